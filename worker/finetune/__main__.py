from worker.finetune.cli import app

app()
