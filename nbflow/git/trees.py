"""Git tree objects handled without an index (git/commands.py runs the commands):
where files go in a tree, a tree object's entries, and the mode ``git add`` gives a
file. A run commit's tree is its parent's with only the trees from the top down to
the run folder written again, so its cost does not grow with the repository."""

from __future__ import annotations

from collections.abc import Mapping

Entry = tuple[str, str]  # a tree entry: (mode, object id)
Layout = dict[str, "Layout | Entry"]  # files to put in a tree, by folder


def layout(files: Mapping[str, Entry]) -> Layout:
    """``files`` (path: entry) as nested folders; a later path wins a name both a
    file and a folder of the given paths hold."""
    top: Layout = {}
    for path, entry in files.items():
        *names, name = path.split("/")
        node = top
        for folder in names:
            child = node.get(folder)
            node[folder] = child = child if isinstance(child, dict) else {}
            node = child
        node[name] = entry
    return top


def folders(layout: Layout, folder: str = "") -> list[str]:
    """``folder`` and every folder below it that ``layout`` puts files in."""
    found = [folder]
    for name, child in layout.items():
        if isinstance(child, dict):
            found += folders(child, f"{folder}/{name}" if folder else name)
    return found


def entries(data: bytes, id_size: int) -> dict[str, Entry]:
    """The entries of a tree object: ``<mode> <name>\\0<id>`` each."""
    found: dict[str, Entry] = {}
    at = 0
    while at < len(data):
        name_end = data.index(b"\0", at)
        mode, _, name = data[at:name_end].partition(b" ")
        sha = data[name_end + 1 : name_end + 1 + id_size].hex()
        found[name.decode("utf-8", "surrogateescape")] = (mode.decode(), sha)
        at = name_end + 1 + id_size
    return found


def object_type(mode: str) -> str:
    return {"40000": "tree", "160000": "commit"}.get(mode, "blob")


def added_mode(added: Entry, before: Entry | None, keep_mode: tuple[bool, bool]) -> Entry:
    """A file's entry as ``git add`` makes it, given the entry ``before`` it."""
    mode, sha = added
    was = before[0] if before else ""
    if keep_mode[1] and was == "120000" and mode != "120000":
        return was, sha
    if keep_mode[0] and mode.startswith("100") and was.startswith("100"):
        return was, sha
    return mode, sha
