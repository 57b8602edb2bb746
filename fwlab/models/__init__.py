"""Recurrent models: the IndRNN stack and SequenceModel (rnn | lstm | indrnn body + head)."""

from fwlab.models.indrnn import IndRNN, indrnn_recurrence
from fwlab.models.indrnn_fused import indrnn_layer_fused, indrnn_recurrence_fused
from fwlab.models.sequence import SequenceModel

__all__ = [
    "IndRNN",
    "SequenceModel",
    "indrnn_layer_fused",
    "indrnn_recurrence",
    "indrnn_recurrence_fused",
]
