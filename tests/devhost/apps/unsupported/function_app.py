"""An app with a queue trigger, which devhost does not emulate."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()


@app.queue_trigger(arg_name="msg", queue_name="work", connection="AzureWebJobsStorage")
def on_message(msg: func.QueueMessage) -> None:
    """Never runs."""
