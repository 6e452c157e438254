"""data.copy_source=auto (tasks/seq2seq_copy.py): the profile of the pairs and what it turns on."""

import pytest

from seqlab.errors import UserError
from seqlab.models.seq2seq import Seq2SeqConfig
from seqlab.models.transformer import TransformerConfig
from seqlab.tasks.base import Composed, TrainRequest
from seqlab.tasks.seq2seq import Seq2SeqData
from seqlab.tasks.seq2seq_copy import profile, resolve
from seqlab.train.engine import TrainConfig

DIALOGUES = ["Anna: are you coming to the party tonight? Ben: no, I have to work late, sorry Anna",
             "Tom: did you buy the milk? Eve: yes, and the bread too"]
SUMMARIES = ["Ben has to work late.", "Eve bought milk and bread."]
GERMAN = ["Ein Mann fährt Fahrrad .", "Zwei Hunde spielen im Schnee ."]
ENGLISH = ["A man rides a bike .", "Two dogs play in the snow ."]


def _req(sets=None):
    return TrainRequest(task="seq2seq", model="transformer", data="x", out="y", sets=sets or {})


def _comp(model_cfg=None, **data):
    return Composed("transformer", model_cfg or TransformerConfig(), Seq2SeqData(**data), TrainConfig())


def test_profile_counts_words_not_characters():
    p = profile(DIALOGUES, SUMMARIES)
    # "ben has to work late" 4 of 5 ("has" is not in the dialogue); "eve bought milk and bread" 4 of 5 ("bought")
    assert p.overlap == pytest.approx(8 / 10) and p.pairs == 2
    assert p.length_ratio == pytest.approx(10 / 29, abs=1e-4)  # rounded to 4 places
    assert profile(GERMAN, ENGLISH).overlap == 0.0  # the same letters, no shared word
    assert profile([], []).overlap == 0.0


def test_summaries_turn_on_copying_and_trigram_blocking_translations_do_not():
    comp = _comp()
    prof = resolve(comp, _req(), DIALOGUES, SUMMARIES)
    assert prof["overlap"] == pytest.approx(0.8)
    assert comp.data.copy_source == "on" and comp.data.shared_vocab and comp.data.no_repeat_ngram == 3
    assert comp.model.copy and comp.model.share_embeddings
    assert comp.model.attn_dropout == comp.model.ff_dropout == 0.0 and comp.model.dropout == 0.1  # residual path only
    comp = _comp()
    resolve(comp, _req(), GERMAN, ENGLISH)
    assert comp.data.copy_source == "off" and not comp.data.shared_vocab and not comp.model.copy
    assert comp.data.no_repeat_ngram == 0 and comp.model.attn_dropout is None and comp.model.ff_dropout is None


def test_what_the_user_set_wins_and_on_or_off_are_not_measured_again():
    comp = _comp(no_repeat_ngram=0)
    resolve(comp, _req({"data": {"no_repeat_ngram": "0"}, "model": {"share_embeddings": "false"}}), DIALOGUES, SUMMARIES)
    assert comp.model.copy and comp.data.shared_vocab
    assert comp.data.no_repeat_ngram == 0 and comp.model.share_embeddings is False
    comp = _comp(copy_source="off")
    assert resolve(comp, _req(), DIALOGUES, SUMMARIES) is None and not comp.model.copy
    comp = _comp(copy_source="on")
    resolve(comp, _req(), GERMAN, ENGLISH)  # on even for a translation, when asked
    assert comp.model.copy and comp.data.shared_vocab and comp.data.no_repeat_ngram == 0  # same length: no blocking
    assert comp.model.attn_dropout is None  # ... and every dropout site as the default
    comp = _comp(TransformerConfig(attn_dropout=0.1))
    resolve(comp, _req({"model": {"attn_dropout": "0.1"}}), DIALOGUES, SUMMARIES)
    assert comp.model.attn_dropout == 0.1 and comp.model.ff_dropout == 0.0  # a site the user set keeps its rate


def test_rnn_models_have_no_copy_head():
    comp = Composed("bahdanau", Seq2SeqConfig(), Seq2SeqData(), TrainConfig())
    resolve(comp, _req(), DIALOGUES, SUMMARIES)
    assert comp.data.copy_source == "off" and not comp.data.shared_vocab
    comp = Composed("bahdanau", Seq2SeqConfig(), Seq2SeqData(copy_source="on"), TrainConfig())
    with pytest.raises(UserError, match="copy head"):
        resolve(comp, _req(), DIALOGUES, SUMMARIES)


def test_copy_source_must_be_auto_on_or_off():
    with pytest.raises(ValueError, match="copy_source"):
        Seq2SeqData(copy_source="yes")
