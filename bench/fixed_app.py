"""The ceiling for the webhook benchmark: Flask returning one fixed TwiML string."""

from __future__ import annotations

from flask import Flask, Response

TWIML = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/step?s=2" actionOnEmptyResult="false" '
    'finishOnKey="" input="dtmf" method="POST" numDigits="1" timeout="5"><Say language="cmn-CN" voice="Polly.Zhiyu">'
    "激活社保卡，请按1；社保卡挂失或补办，请按2；查询社保卡状态，请按3；电子社保卡下载和跨省切换参保地，请按4；"
    "社会保险登记和姓名更正，请按5；For English, please press 9；人工服务，请按0；重听，请按*号键。</Say></Gather>"
    '<Redirect method="POST">/voice/step?s=2&amp;timeout=1</Redirect></Response>'
)

app = Flask(__name__)


@app.post("/voice")
def voice() -> Response:
    """Always the same answer, as fast as Flask can give it."""
    return Response(TWIML, mimetype="text/xml")
