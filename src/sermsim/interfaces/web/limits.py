"""The web server's limits: engineering settings that keep one server answering, not science.

Each is a named constant with the reason for its value; :class:`Limits` gathers them so a
test (or a deployment) can pass others to :func:`sermsim.interfaces.web.create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The largest request body accepted, in bytes. The largest legitimate request, a trial spec
#: with every patient key as a distribution and 20 arms, is under 10 kB; 64 kB leaves room
#: for it and keeps a hostile upload from taking the server's memory.
MAX_BODY_BYTES = 64 * 1024

#: Seconds the whole request body may take to arrive after its headers. The largest body
#: (64 kB) takes well under a second on any working link; a client trickling its body to hold
#: a connection (and so a place among the server's connections) is cut off after this.
BODY_SECONDS = 10.0

#: Seconds a connection may take to send a whole request head (request line and headers)
#: after opening, or after its last answer. A working client sends it at once; a connection
#: that sends nothing holds one of the server's places, so it is closed after this.
HEAD_SECONDS = 10.0

#: The longest horizon of /api/simulate and /api/compare, in years: the longest follow-up a
#: trial spec allows (``sermsim.trials.spec.MAX_DURATION_YEARS``, which compare runs on).
#: Measured here (2 cores), a 30-year comparison of the standard options takes 8 s warm and
#: 20 s in a fresh process; a 30-year simulation 1 s and 7 s.
MAX_YEARS = 30.0

#: The largest trial one request may run: people per arm × arms × years of follow-up. Measured
#: here (2 cores) the hazards of a compiled trial run at about 60,000 person-years a second;
#: 250,000 person-years is a few seconds after the one-off compile. Bigger trials are for the
#: CLI (``sermsim trial run --shards``), which has no request time limit.
MAX_TRIAL_PERSON_YEARS = 250_000

#: The most people whose physiology a web trial simulates (``physiology_anchors``). The spec
#: allows up to 10,000 (``sermsim.trials.spec.MAX_ANCHORS``); each anchor is one full
#: simulation per arm, so 200 keeps the physiology stage within the time limit.
MAX_TRIAL_ANCHORS = 200

#: Wall-clock seconds one computation may take, waiting in line included. A fresh process
#: compiles the JAX engine before its first answer (20-40 s on 2 cores here); 120 s allows
#: that with room, and is about as long as a person waits for a page.
COMPUTE_SECONDS = 120.0

#: Requests that may wait for the one computation at a time; more are refused at once with
#: 503 rather than queued past their time limit.
MAX_WAITING = 4


@dataclass(frozen=True)
class Limits:
    """The limits one app enforces (defaults: the constants above)."""

    max_body_bytes: int = MAX_BODY_BYTES
    body_seconds: float = BODY_SECONDS
    head_seconds: float = HEAD_SECONDS
    max_years: float = MAX_YEARS
    max_trial_person_years: float = MAX_TRIAL_PERSON_YEARS
    max_trial_anchors: int = MAX_TRIAL_ANCHORS
    compute_seconds: float = COMPUTE_SECONDS
    max_waiting: int = MAX_WAITING
