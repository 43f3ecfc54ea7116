"""The reliability table of docs/reliability.md, printed from a real run of the tests that
try each fault and input class: how many cases were tried and what came of
them. A class whose tests fail is printed as FAILED, never as held.

    .venv/bin/python bench/reliability.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent / "tests"

# (fault or input class, the outcome its tests assert, the test ids that try it)
CLASSES = [
    (
        "preset files: byte mutations of relu.toml (fuzz)",
        "a valid spec or one line, exit 2",
        ["test_spec_fuzz.py::test_byte_mutations_of_a_preset"],
    ),
    (
        "presets with generated hostile values (fuzz)",
        "a valid spec or one line, exit 2",
        ["test_spec_fuzz.py::test_generated_presets"],
    ),
    (
        "values out of range: NaN, ±inf, 2⁶³−1 epochs, 10¹¹ maps, pool 1000, batch 10⁸, …",
        "one line naming the field and its range, exit 2",
        ["test_spec.py::test_field_errors_name_the_field"],
    ),
    (
        "not UTF-8, TOML nested 3,000–5,000 deep",
        "one line, exit 2",
        ["test_spec_fuzz.py::test_deeply_nested", "test_spec_fuzz.py::test_a_file_that_is_not_utf8"],
    ),
    (
        "data behind a matching sum: bad SHA256SUMS line, label 200, fewer labels, short or odd IDX, not gzip",
        "one line naming the file and the fault, exit 2, no run or group created",
        [
            "test_data.py::test_malformed_sums",
            "test_data.py::test_label_out",
            "test_data.py::test_fewer_labels",
            "test_data.py::test_header_that",
            "test_data.py::test_images_of",
            "test_data.py::test_not_gzip",
            "test_data.py::test_bad_data_creates",
        ],
    ),
    (
        "store: added column, older version missing a column",
        "read commands work; migrated in one transaction, a copy kept (`<store>.v0.bak`)",
        ["test_store_faults.py::test_an_added", "test_store_faults.py::test_an_older"],
    ),
    (
        "store: newer version, damaged page, not a store, read-only",
        "one line, exit 2, file byte-identical; read-only: read, never written",
        [
            "test_store_faults.py::test_a_newer",
            "test_store_faults.py::test_a_damaged",
            "test_store_faults.py::test_a_file_that",
            "test_store_faults.py::test_a_read_only",
            "test_store_faults.py::test_read_commands",
            "test_store_faults.py::test_an_unwritable",
        ],
    ),
    (
        "hostile pids in the store (-1, 0, 1, our own, reused) and x in the lab",
        "nothing signalled; the run becomes interrupted; the real holder of the run's lock is signalled",
        ["test_store.py::test_mark_stale", "test_store.py::test_stopping", "test_hostile_text.py::test_x_never"],
    ),
    (
        "two resumes of one run at once",
        "one trains, the other: one line, exit 2, trained nothing",
        ["test_concurrency.py::test_two_resumes"],
    ),
    (
        "three writers and two readers on one store",
        "all runs, epochs and predictions stored; no reader failed",
        ["test_concurrency.py::test_three_writers"],
    ),
    (
        "SIGKILL at random moments, then --resume",
        "whole epochs only; resumed run equals an uninterrupted one",
        ["test_concurrency.py::test_sigkill", "test_engine.py::test_sigterm_then_resume"],
    ),
    (
        "a run whose loss becomes NaN",
        "stopped in its first epoch, status diverged with a hint, exit 1, nothing NaN stored; --resume refused",
        ["test_cli_faults.py::test_a_run_whose_loss"],
    ),
    (
        "markup, right-to-left and escape characters in names, titles, errors (lab)",
        "shown literally, controls escaped, no MarkupError",
        ["test_hostile_text.py::test_markup", "test_hostile_text.py::test_a_hostile"],
    ),
    (
        "preset names ../x and /abs/path in the settings form",
        "written as a safe name inside the jobs folder; folder removed on exit",
        ["test_hostile_text.py::test_settings_form_writes"],
    ),
    (
        "names such as `=cmd…` and `<svg/onload>` in exports",
        "CSV cell quoted, Markdown escaped, JSON without NaN",
        ["test_export.py::test_hostile_names"],
    ),
    (
        "`run` options out of range (--threads 100000, --seed 10²⁰, --epochs 2⁶³−1, …), malformed options",
        "one line naming the option and its range, exit 2, nothing stored",
        ["test_cli_faults.py::test_run_options_out", "test_cli_faults.py::test_bad_options"],
    ),
    (
        "100,000-character names, escape and right-to-left characters in the CLI (runs, compare, show, errors)",
        "cut with …; shown escaped (\\x1b, \\u202e)",
        ["test_cli_faults.py::test_long_names"],
    ),
    (
        "run ids past SQLite's range, runs that fail before they start",
        "one line, exit 2; no empty group left",
        ["test_store_faults.py::test_show_of_an_id", "test_cli_faults.py::test_a_run_that_fails"],
    ),
    (
        "damaged rows in a valid store: config not JSON, garbage members, wrong types, bad figures and blobs",
        "listed as unreadable with id and reason; the rest shows, compares, exports; rm removes it; nothing else changed",
        ["test_store_faults.py::test_damaged_rows"],
    ),
    (
        "convlab serve: a foreign Origin, no token, a wrong token; --host 0.0.0.0",
        "403, no lab started; the printed address admitted; a loud warning and a reachable websocket address",
        ["test_serve.py::test_only_the_token", "test_serve.py::test_a_non_local"],
    ),
    (
        "preset names with ../, / and 100,000 characters in the TensorBoard export",
        "one folder per run, a safe name inside -o; nothing outside it written or deleted",
        ["test_confinement.py::test_a_tensorboard"],
    ),
    (
        "lock files that are symlinks (run, group), a locks folder of another user, a forged lock file",
        "one line, exit 2, the link's target untouched; only the real holder is signalled",
        [
            "test_confinement.py::test_a_lock_file",
            "test_confinement.py::test_a_locks_folder",
            "test_confinement.py::test_a_forged",
        ],
    ),
    (
        "sweep files and base presets: binary, nested 3,000 deep, not TOML, /etc/passwd, train = 5, layers = 5",
        "one line, exit 2, nothing stored",
        ["test_sweep_strict.py::test_a_bad_sweep_file", "test_sweep_strict.py::test_a_base_preset"],
    ),
    (
        "sweep repeats and seeds out of range (file and options), a grid of 27 million points",
        "one line naming the field and its range, exit 2, nothing stored",
        [
            "test_sweep_strict.py::test_a_sweep_files_repeats",
            "test_sweep_strict.py::test_sweep_options",
            "test_sweep_strict.py::test_a_grid",
        ],
    ),
    (
        "sweeps that fail before their first run; a sweep SIGKILLed, then two resumes",
        "no row left; interrupted; the second resume: one line, exit 2, created nothing",
        ["test_sweep_strict.py::test_a_sweep_that_fails", "test_sweep_strict.py::test_a_killed_sweep"],
    ),
    (
        "the parent of `run` / `sweep --workers 2` SIGKILLed",
        "every worker exits; its run is interrupted",
        ["test_orphans.py::test_workers_exit"],
    ),
    (
        "a Ray address that does not answer (a closed port, TEST-NET), a bad --ray-timeout",
        "one line naming the address given, exit 2, nothing stored",
        ["test_ray_connect.py::test_an_address", "test_ray_connect.py::test_the_timeout"],
    ),
    (
        "escape codes in sweep output and the lab's compare legend; 200,000-character names and notes; long arguments",
        "shown escaped, cut with …; one line, exit 2",
        [
            "test_printed_names.py::test_a_sweep_prints",
            "test_printed_names.py::test_long_names_and_notes",
            "test_hostile_legend.py::test_the_compare_legend",
        ],
    ),
    (
        "CSV cells with blanks or a newline before =, ESC in cells; Markdown `![img](…)`",
        "quoted; escaped; the image stays text",
        ["test_printed_names.py::test_exported_cells"],
    ),
    (
        "damaged pages past the schema, then note, tag, ensemble, rm",
        "reads that never touch them work; each write: one line, exit 2, file byte-identical",
        ["test_store_damage.py::test_damaged_pages"],
    ),
    (
        "a read-only folder with a `-wal` and no `-shm`",
        "`runs` and `show` show the note and figure only the log holds; nothing written",
        ["test_store_damage.py::test_a_read_only_folder"],
    ),
    (
        "a full disk (tmpfs) and a read-only file: reads, note, tag, rm",
        "reads work; writes: one line naming the full disk or the read-only file, never *damaged*",
        ["test_store_damage.py::test_a_full_disk", "test_store_damage.py::test_a_read_only_store_is_called"],
    ),
    (
        "data files: unreadable, a gzip bomb; a killed worker",
        "one line naming the file, exit 2, nothing stored; the killed worker's own run named",
        ["test_fault_lines.py::test_data_files", "test_fault_lines.py::test_a_killed_worker"],
    ),
    (
        "a bad file in the presets folder, --train-limit above the data, run ids after `rm`, SIGHUP to the lab",
        "the others listed, the bad one named; refused, nothing stored; a new id; jobs folder removed",
        [
            "test_fault_lines.py::test_one_bad_file",
            "test_fault_lines.py::test_a_train_limit",
            "test_store_damage.py::test_a_run_id",
            "test_fault_lines.py::test_the_lab_removes",
        ],
    ),
]


class Collect:
    def __init__(self):
        self.outcomes: dict[str, str] = {}
        self.cases: dict[str, int] = {}

    def pytest_runtest_logreport(self, report) -> None:
        for name, value in report.user_properties:
            if name == "cases":  # a test that tries several cases says how many
                self.cases[report.nodeid] = value
        if report.when == "call" or report.outcome != "passed":
            self.outcomes.setdefault(report.nodeid, report.outcome)
            if report.outcome == "failed":
                self.outcomes[report.nodeid] = "failed"


def main() -> int:
    files = sorted({pattern.split("::")[0] for _, _, patterns in CLASSES for pattern in patterns})
    paths = [str(p) for f in files for p in TESTS.rglob(f)]
    names = " or ".join(sorted({pattern.split("::")[1] for _, _, patterns in CLASSES for pattern in patterns}))
    collect = Collect()
    pytest.main([*paths, "-q", "-p", "no:cacheprovider", "-k", names], plugins=[collect])
    fuzz = Counter()
    module = sys.modules.get("test_spec_fuzz")
    if module is not None:
        fuzz = module.TRIED
    print("\n| fault or input class | cases tried | outcome | result |\n|---|---:|---|---|")
    for title, outcome, patterns in CLASSES:
        ids = [n for n in collect.outcomes if any(n.split("/")[-1].startswith(p) for p in patterns)]
        states = Counter(collect.outcomes[n] for n in ids)
        cases = sum(collect.cases.get(n, 1) for n in ids)
        if "fuzz" in title:
            kind = "mutated" if "mutation" in title else "generated"
            specs_, errors = fuzz[kind, "spec"], fuzz[kind, "user error"]
            cases = specs_ + errors
            outcome += f" ({specs_} spec{'s' * (specs_ != 1)}, {errors} user error{'s' * (errors != 1)})"
        result = (
            "FAILED"
            if states["failed"]
            else (
                "skipped"
                if not states["passed"]
                else f"held ({states['passed']} passed"
                + (f", {states['skipped']} skipped as root" if states["skipped"] else "")
                + ")"
            )
        )
        print(f"| {title} | {cases} | {outcome} | {result} |")
    return 1 if any(v == "failed" for v in collect.outcomes.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
