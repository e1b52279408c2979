"""THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 section 2), over rows stored at ingest.

Pure functions from `ThreadRow`s to trees of `Node`s, so the algorithms are tested on crafted
sets without a store. REFERENCES follows the RFC's steps (after Zawinski): link the References
chain (In-Reply-To when there is no References), take the roots, prune empty containers, sort
by sent date, merge roots by base subject, sort every level. Message-IDs compare exactly; a
missing or duplicate Message-ID gets a unique one, as the RFC asks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..store.ordering import ThreadRow

# what base-subject extraction removes to mark a reply or forward (RFC 5256 2.1 subj-refwd, subj-fwd)
_REPLY = re.compile(r"^\s*(?:\[[^\[\]]*\]\s*)*(?:re|fwd?)\s*(?:\[[^\[\]]*\]\s*)?:|^\s*\[fwd:|\(fwd\)\s*$", re.I)


class Node:
    """A container: a message (`row`), or a dummy standing for a referenced message we do not have."""

    __slots__ = ("children", "parent", "row")

    def __init__(self, row: ThreadRow | None = None, parent: Node | None = None) -> None:
        self.row = row
        self.parent = parent
        self.children: list[Node] = []

    def date(self) -> tuple[int, int]:
        """Sort key: the message's sent date then UID; a dummy sorts as its first child."""
        node = self
        while node.row is None:
            if not node.children:
                return (0, 0)
            node = node.children[0]
        return (node.row.date, node.row.uid)

    def subject_row(self) -> ThreadRow | None:
        return self.row if self.row is not None else (self.children[0].row if self.children else None)


def is_reply(subject: str) -> bool:
    return bool(_REPLY.search(subject))


def ordered_subject(rows: Sequence[ThreadRow]) -> list[Node]:
    """Group by base subject (ASCII case-insensitive); in each group the earliest is the parent of the rest."""
    groups: dict[str, list[ThreadRow]] = {}
    for row in sorted(rows, key=lambda r: (r.base_subject.lower(), r.date, r.uid)):
        groups.setdefault(row.base_subject.lower(), []).append(row)
    roots = []
    for members in groups.values():
        root = Node(members[0])
        root.children = [Node(row, root) for row in members[1:]]
        roots.append(root)
    roots.sort(key=Node.date)
    return roots


def references(rows: Sequence[ThreadRow]) -> list[Node]:
    """The REFERENCES algorithm, steps 1 to 8 of RFC 5256 section 2.2."""
    table: dict[str, Node] = {}
    for row in rows:  # step 1
        mid = row.message_id
        if mid is None or (mid in table and table[mid].row is not None):
            mid = f"\0unique-{row.uid}"  # missing or duplicate Message-ID: treated as unique
        node = table.get(mid)
        if node is None:
            node = table[mid] = Node()
        node.row = row
        chain = list(row.references) or ([row.in_reply_to] if row.in_reply_to else [])
        previous: Node | None = None
        for ref in chain:  # 1A: link the references, parent to child, unless linked already
            container = table.get(ref)
            if container is None:
                container = table[ref] = Node()
            if previous is not None and container.parent is None and not _reaches(container, previous):
                _link(previous, container)
            previous = container
        # 1B: the message's parent is its last reference, replacing a parent guessed from another's
        # References; nothing changes if the link would make a loop
        if previous is not None and _reaches(node, previous):
            continue
        if node.parent is not None:
            node.parent.children.remove(node)
            node.parent = None
        if previous is not None:
            _link(previous, node)
    roots = [node for node in table.values() if node.parent is None]  # steps 2 and 3
    roots = _prune(roots)  # step 4
    _sort_tree(roots)  # children first: a dummy's date is its first child's
    roots.sort(key=Node.date)  # step 5
    roots = _merge_subjects(roots)  # steps 6 and 7
    _sort_tree(roots)  # step 8
    roots.sort(key=Node.date)
    return roots


def _link(parent: Node, child: Node) -> None:
    child.parent = parent
    parent.children.append(child)


def _reaches(ancestor: Node, node: Node) -> bool:
    """Is `ancestor` an ancestor of `node`, or `node` itself?"""
    current: Node | None = node
    while current is not None:
        if current is ancestor:
            return True
        current = current.parent
    return False


def _prune(roots: list[Node]) -> list[Node]:
    """Step 4: drop empty dummies; a dummy's children take its place, except a root dummy with several.

    Iterative (children before parents), as a reply chain can be thousands of messages deep.
    """
    for node in reversed(_preorder(roots)):
        kept: list[Node] = []
        for child in node.children:
            if child.row is not None:
                kept.append(child)
            else:  # a dummy below the root: its (already pruned) children move up, or it vanishes
                kept.extend(child.children)
        for child in kept:
            child.parent = node
        node.children = kept
    out: list[Node] = []
    for node in roots:
        if node.row is not None or len(node.children) > 1:
            out.append(node)
        elif node.children:
            child = node.children[0]
            child.parent = None
            out.append(child)
    return out


def _preorder(roots: list[Node]) -> list[Node]:
    """Every node below `roots` (not the roots), each after its parent."""
    order: list[Node] = []
    stack = [child for root in roots for child in root.children]
    while stack:
        node = stack.pop()
        order.append(node)
        stack.extend(node.children)
    return order


def _sort_tree(roots: list[Node]) -> None:
    """Sort every set of siblings below `roots` by sent date, children first (a dummy sorts as its first)."""
    for node in reversed([*roots, *_preorder(roots)]):
        if len(node.children) > 1:
            node.children.sort(key=Node.date)


def _merge_subjects(roots: list[Node]) -> list[Node]:
    """Steps 6 and 7: roots with the same base subject become one thread."""
    table: dict[str, Node] = {}
    for root in roots:  # step 6: per subject, a dummy if any, else preferably a message that is no reply
        key = _subject_key(root)
        if key is None:
            continue
        old = table.get(key)
        if old is None or (old.row is not None and (root.row is None or (_reply(old) and not _reply(root)))):
            table[key] = root
    removed: set[int] = set()
    replaced: dict[int, Node] = {}
    for root in roots:  # step 7
        key = _subject_key(root)
        holder = table.get(key) if key is not None else None
        if holder is None or holder is root or root.parent is not None:
            continue
        if holder.row is None and root.row is None:  # both dummies: their children become siblings
            for child in root.children:
                _link(holder, child)
            root.children = []
            removed.add(id(root))
        elif holder.row is None or (_reply(root) and not _reply(holder)):
            _link(holder, root)
        else:  # neither leads: siblings under a new dummy, which takes the holder's place
            dummy = Node()
            _link(dummy, holder)
            _link(dummy, root)
            replaced[id(holder)] = dummy
            table[key] = dummy  # type: ignore[index]
    out = []
    for root in roots:
        if id(root) in replaced:
            out.append(replaced[id(root)])
        elif root.parent is None and id(root) not in removed:
            out.append(root)
    return out


def _subject_key(node: Node) -> str | None:
    row = node.subject_row()
    return row.base_subject.lower() if row is not None and row.base_subject else None


def _reply(node: Node) -> bool:
    return node.row is not None and is_reply(node.row.subject)


def render(roots: Sequence[Node], number: dict[int, int] | None = None) -> bytes:
    """`(2)(3 6 (4 23)(44 7 96))`: UIDs, or sequence numbers through `number`.

    A message with one child continues its list; several children each get a parenthesised list.
    Iterative, like the rest, for deep threads.
    """
    out: list[bytes] = []
    stack: list[Node | bytes] = []
    for root in reversed(roots):
        stack += [b")", root, b"("]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        node = item
        while node.row is not None:
            uid = node.row.uid
            out.append(b"%d" % (number[uid] if number is not None else uid))
            if not node.children:
                break
            out.append(b" ")
            if len(node.children) > 1:
                break
            node = node.children[0]
        if len(node.children) > 1 or node.row is None:
            for child in reversed(node.children):
                stack += [b")", child, b"("]
    return b"".join(out)
