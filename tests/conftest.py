"""Shared fixtures: tiny embedded corpora, synthesised once per test session, and a model cache per module."""

import pytest

from speechbrain_unlearn.data.synth import synthesise_speech_commands, synthesise_voxceleb
from tests.support import TINY_SC, TINY_VC


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("corpora"))


@pytest.fixture(scope="session")
def tiny_sc(corpus_cache):
    return synthesise_speech_commands(corpus_cache, **TINY_SC)


@pytest.fixture(scope="session")
def tiny_vc(corpus_cache):
    return synthesise_voxceleb(corpus_cache, **TINY_VC)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A model and corpus cache shared by the recipe runs of one test module."""
    return str(tmp_path_factory.mktemp("cache"))
