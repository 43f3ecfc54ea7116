"""Keeping a store tidy: `convlab rm`, `note`, `tag` and `gc`; the store
does the SQL.

Nothing a failed command touches is changed: every check runs before the
first write, and each write is one transaction."""

from __future__ import annotations

import re
import sqlite3
import sys

from convlab.cli.options import common
from convlab.errors import UserError
from convlab.term.format import size

TAG = re.compile(r"[\w.:+-]{1,40}")


def add_rm(sub) -> None:
    p = sub.add_parser(
        "rm",
        help="remove runs and everything stored with them",
        description="Remove runs (their epochs, filters, mistakes, predictions, checkpoints, note "
        "and tags). A running run is refused, as is a member of a vote that stays.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids (from `convlab runs`)")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask (needed when not at a terminal)")
    common(p)
    p.set_defaults(func=cmd_rm)


def add_note(sub) -> None:
    p = sub.add_parser("note", help="set a run's note (an empty TEXT removes it)")
    p.add_argument("run", metavar="RUN", help="run id")
    p.add_argument("text", metavar="TEXT", help="the note, shown by `runs`, `show` and the exports")
    common(p)
    p.set_defaults(func=cmd_note)


def add_tag(sub) -> None:
    p = sub.add_parser("tag", help="tag runs (shown in `runs`, `compare`, the lab; `runs --tag` selects)")
    p.add_argument("tag", metavar="TAG", help="a word: letters, digits, . : + - _")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids")
    p.add_argument("--remove", action="store_true", help="take the tag off instead")
    common(p)
    p.set_defaults(func=cmd_tag)


def add_gc(sub) -> None:
    p = sub.add_parser(
        "gc",
        help="drop the checkpoints of finished runs (only a resume reads them)",
        description="Finished runs keep their epochs, filters, mistakes and predictions, all that "
        "`show`, `compare`, `ensemble` and `export` read; their checkpoints, which only "
        "`run --resume` reads, are dropped and the file shrinks.",
    )
    p.add_argument("--dry-run", action="store_true", help="only say what would be dropped")
    common(p)
    p.set_defaults(func=cmd_gc)


def _open(args):
    from convlab.store import Store

    store = Store(args.store)
    store.mark_stale()
    return store


def check_removable(store, run_ids: list) -> list:
    """The runs, if none is running and no vote that stays counts one as a member."""
    runs = [store.run(r, unreadable=True) for r in dict.fromkeys(run_ids)]  # a damaged row can go
    ids = {r.id for r in runs}
    for run in runs:
        if run.status == "running":
            raise UserError(f"rm: run {run.id} is running; stop it first (x in the lab, or Ctrl-C where it runs)")
    for vote in store.runs():
        if vote.kind == "ensemble" and vote.id not in ids and ids & set(vote.members):
            member = min(ids & set(vote.members))
            raise UserError(f"rm: run {member} is a member of vote {vote.id}; remove {vote.id} too, or neither")
    return runs


def cmd_rm(args) -> int:
    from convlab.term.format import id_ranges

    store = _open(args)
    runs = check_removable(store, args.runs)
    what = f"run{'s' if len(runs) > 1 else ''} {id_ranges([r.id for r in runs])}"
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError(f"rm: add --yes to remove {what} (nothing was removed)")
        answer = input(
            f"remove {what} ({', '.join(sorted({r.preset for r in runs}))}) and all stored with "
            f"{'them' if len(runs) > 1 else 'it'}? [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    store.delete_runs([r.id for r in runs])
    print(f"removed {what} from {store.path}")
    return 0


def cmd_note(args) -> int:
    store = _open(args)
    run = store.run(args.run)
    text = " ".join(args.text.split())
    store.set_note(run.id, text)
    print(f"run {run.id}: note {'set' if text else 'removed'}")
    return 0


def cmd_tag(args) -> int:
    if not TAG.fullmatch(args.tag) or args.tag.isdigit():
        raise UserError(
            f"tag {args.tag!r}: a tag is one word of letters, digits and . : + - _ "
            "(not a number, which reads as a run id), at most 40 characters"
        )
    store = _open(args)
    ids = [store.run(r).id for r in dict.fromkeys(args.runs)]
    if args.remove:
        store.set_tags(ids, remove=[args.tag])
    else:
        store.set_tags(ids, add=[args.tag])
    print(f"{'untagged' if args.remove else 'tagged'} {len(ids)} run{'s' if len(ids) > 1 else ''}: #{args.tag}")
    return 0


def cmd_gc(args) -> int:
    store = _open(args)
    count, nbytes = store.checkpoint_bytes("finished")
    before = store.size()
    if args.dry_run or not count:
        print(
            f"{store.path}: {size(before)}; {count} checkpoints of finished runs ({size(nbytes)}) "
            f"{'would be dropped' if count else 'to drop: none'}"
        )
        return 0
    store.drop_checkpoints("finished")
    try:
        store.compact()
    except sqlite3.OperationalError as exc:
        raise UserError(
            f"gc: dropped {count} checkpoints, but the store is busy ({exc}), so the file did not "
            "shrink; run gc again when no run is writing to it"
        ) from None
    print(
        f"dropped {count} checkpoints of finished runs ({size(nbytes)}); {store.path}: {size(before)} → "
        f"{size(store.size())}"
    )
    return 0


def size_line(store) -> str:
    """For `convlab runs`: how big the store is and what gc would give back."""
    count, nbytes = store.checkpoint_bytes("finished")
    hint = f"; `convlab gc` drops the {size(nbytes)} of finished runs' checkpoints" if count else ""
    return f"{store.path}: {size(store.size())}{hint}"


def print_ids(args) -> int:
    """`convlab runs --ids`: for completion, so it never creates a store."""
    from convlab.config.paths import store_path
    from convlab.store import Store

    if store_path(args.store).exists():
        with Store(args.store) as store:
            print(
                "\n".join(
                    str(r.id) for r in store.runs(limit=args.last, preset=args.preset, tag=args.tag, unreadable=True)
                )
            )
    return 0
