"""Fine-tuning a text encoder end to end with a classification head, served like any
added classifier.

One module per step::

    recipe      FineTuneRecipe: the value saved with the weights
    text        the text as the worker reads it (the normaliser, when installed)
    model       encoder -> mean pooling -> linear head; its folder on disk
    engine      the loop: class weights, AdamW + linear decay, early stopping, resumable checkpoints
    progress    a progress line with the time left (terminal or log file)
    baselines   TF-IDF / frozen features / both on the same split
    run         a whole run under the declared protocol (worker.training.splits)
    export      ONNX (fp32, and int8 where it agrees with fp32)
    cli         the options ``train category --fine-tune`` / ``train bias --fine-tune`` take

Example::

    python -m worker.finetune data.csv --text-column text --label-column label \\
        --labels "1=bias,0=" --out .models/bias-finetuned --name bias
"""
