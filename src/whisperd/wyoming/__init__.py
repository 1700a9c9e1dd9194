"""The Wyoming front end: Home Assistant's speech-to-text protocol over the process's one runtime.

``info`` describes the models (pure), ``wire`` reads events within bounds, ``utterance`` gathers one
utterance's audio, ``handler`` serves one connection and ``server`` listens, admits and drains. The
protocol's framing and events are the ``wyoming`` package's own; nothing here decodes or transcribes:
utterances go to the transcription service, through the same scheduler as HTTP requests.
"""
