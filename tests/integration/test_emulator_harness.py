"""The emulator launcher: clear failures when parts are missing, and no process left after stop."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

from local_stack.emulators import FIRESTORE, PUBSUB, Emulators, MissingEmulatorError, start_emulator


def test_without_gcloud_the_failure_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CLOUDSDK_ROOT_DIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingEmulatorError, match="google-cloud-cli"):
        start_emulator(FIRESTORE, log_dir=tmp_path)


@pytest.mark.parametrize("spec", [FIRESTORE, PUBSUB], ids=lambda spec: spec.name)
def test_a_missing_emulator_component_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, spec) -> None:
    monkeypatch.setenv("CLOUDSDK_ROOT_DIR", str(tmp_path))
    with pytest.raises(MissingEmulatorError, match=spec.apt_package):
        start_emulator(spec, log_dir=tmp_path)


def test_stopping_an_emulator_leaves_no_process_in_its_group(tmp_path: Path) -> None:
    emulator = start_emulator(PUBSUB, log_dir=tmp_path)
    group = emulator.process.pid
    emulator.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(group, 0)


def test_reset_wipes_documents_between_tests(emulators: Emulators, stack_environment: dict[str, str]) -> None:
    from tests.firestore_reads import all_document_paths, client

    client().document("tenants/acme").set({"tenant_id": "acme"})
    assert all_document_paths() == ["tenants/acme"]
    emulators.reset("crm-google-test")
    assert all_document_paths() == []
    with urllib.request.urlopen(f"http://{emulators.firestore.address}/", timeout=5) as response:
        assert response.read().strip() == b"Ok"
