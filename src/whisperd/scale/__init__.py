"""Past one machine: whisperd on Ray Serve (the optional extra ``whisperd[ray]``).

One Serve application of two deployments. The **ingress** (one replica, no CPU reserved) serves the
same HTTP app as a single process, ``create_app`` over a :class:`~whisperd.scale.ingress.ClusterRuntime`:
keys, the upload intake with its byte limits as the body streams, rendering, the log line and metrics;
its transcription service sends each upload, once and as bytes, to a **worker**. The workers (N replicas,
one per GPU or a slice of the CPUs each) each hold a whole :class:`~whisperd.runtime.Runtime`: models,
scheduler and cross-request batching stay inside a replica, and run the one pipeline,
:class:`~whisperd.service.transcription.TranscriptionService`.

Serve routes each call to a worker with a free slot (``max_ongoing_requests`` = its job slots) and queues
the rest at the ingress's handle (``max_queued_requests``); a full queue is OpenAI's 429 with Retry-After,
not Serve's bare 503. Control calls (status, metrics, model load and unload) go to every worker at once.

No module outside this package imports ray, and here only inside the functions that need it
(:mod:`.cluster`, :mod:`.remote`, :mod:`.app`, :mod:`.files`), so importing whisperd stays cheap; the
decisions (:mod:`.plan`, :mod:`.backlog`, :mod:`.exposition`) are pure and tested without a cluster.
"""

__all__: list[str] = []
