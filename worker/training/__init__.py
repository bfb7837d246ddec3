"""Training and evaluating the heads on labelled data (``moderation-worker train`` / ``evaluate``).

One module per step::

    data        CSV rows -> typed examples (DatasetError on bad files)
    images      local files or fetched images; the unusable ones masked, as live
    store       cached encoder outputs (a local .npz per encoder id, or Redis)
    encode      texts and images -> feature tables, through the live model
    dataset     examples -> feature rows and labels, train + validation
    tasks       the live modules as index -> logits functions
    fit         the loop: class-weighted focal loss, early stopping on macro-F1
    crossval    stratified k-fold of the same loop
    baselines   the linear probe on frozen features (the figure to beat)
    metrics     macro-F1, per-class precision / recall, confusion matrix
    plot        the confusion matrix as a PNG (Pillow)
    record      training.json: recipe, encoders, data hashes, figures
    train       the ``train`` recipe, written as a heads checkpoint
    evaluate    a checkpoint scored on a CSV through ModerationModel.score
    cli         the ``train``/``evaluate`` groups, one subcommand per kind of model:
                heads_cli (entailment, bias), category_commands (category),
                cli_options (options shared by name), legacy_cli (old spellings)

Example::

    from worker.training.cli import register
    register(app)          # adds `train KIND` and `evaluate KIND` to a typer.Typer
"""
