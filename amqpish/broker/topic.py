"""The topic exchange's routing table: binding keys compiled into a trie of words.

Keys split on "." into words, exactly as RabbitMQ's ``split_topic_key``: the empty
key has no words at all, while every other key has one more word than it has dots,
so "a..b" is ["a", "", "b"] and "a." is ["a", ""]. In a binding key the word "*"
matches exactly one word and "#" zero or more; nothing else is special ("a*" is a
literal word). Hence "#" matches every key including "", "*" does not match "", and
the binding key "" matches only the routing key "".

Binding keys without wildcards are kept in a plain dict (a topic exchange is often
used as a direct one). The others form a trie whose edges are words, with the "*"
and "#" children held apart from the literal ones. Matching simulates the trie as
an automaton over the set of live nodes: for each word a live node follows its
literal child for that word and its "*" child, and a "#" node stays live (it eats
the word); after each step, and at the start, every live node's "#" child becomes
live too ("#" eating nothing). The cost is the number of words times the number of
live nodes, whatever the number of bindings, and it cannot blow up on keys like
"#.#.#" because live nodes are a set.

Each node keeps its destinations as a prebuilt tuple, and results are cached per
routing key in a bounded dict, since real traffic reuses a few keys. A full cache is
emptied at once: evicting the oldest entry one by one costs more than it saves (a
dict finds its first live entry by skipping every deleted one before it, which made
routing distinct keys twice as slow), and the keys in use come back at once. The cache is cleared whenever a node's set of destinations
changes; re-binding an existing destination with other arguments leaves it alone.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, Final

from amqpish.broker.args import freeze_args

CACHE_SIZE: Final = 4096

_EMPTY: Final[tuple[Hashable, ...]] = ()


def split_key(key: str) -> list[str]:
    """RabbitMQ's word split: "" has no words, "a." has two."""
    return key.split(".") if key else []


class _Node:
    __slots__ = ("bindings", "children", "dests", "hash", "is_hash", "star")

    def __init__(self, is_hash: bool = False) -> None:
        self.children: dict[str, _Node] = {}
        self.star: _Node | None = None
        self.hash: _Node | None = None
        self.is_hash = is_hash
        # destination -> frozen arguments of the bindings that end at this node
        self.bindings: dict[Hashable, set[Hashable]] = {}
        # prebuilt tuple of the destinations above; None when it must be rebuilt
        self.dests: tuple[Hashable, ...] | None = _EMPTY

    def destinations(self) -> tuple[Hashable, ...]:
        dests = self.dests
        if dests is None:
            dests = self.dests = tuple(self.bindings)
        return dests

    def is_empty(self) -> bool:
        return not (self.bindings or self.children or self.star or self.hash)

    def step(self, word: str, create: bool) -> _Node | None:
        if word == "#":
            node = self.hash
            if node is None and create:
                node = self.hash = _Node(is_hash=True)
        elif word == "*":
            node = self.star
            if node is None and create:
                node = self.star = _Node()
        else:
            node = self.children.get(word)
            if node is None and create:
                node = self.children[word] = _Node()
        return node

    def drop(self, word: str) -> None:
        if word == "#":
            self.hash = None
        elif word == "*":
            self.star = None
        else:
            del self.children[word]


class TopicRouter:
    """A ``routing.Router`` for the topic exchange type."""

    __slots__ = ("_by_dest", "_cache", "_exact", "_root")

    def __init__(self) -> None:
        self._root = _Node()
        # binding keys with no "*" or "#" word, looked up by the whole routing key
        self._exact: dict[str, _Node] = {}
        self._by_dest: dict[Hashable, set[tuple[str, Hashable]]] = {}
        self._cache: dict[str, tuple[Hashable, ...]] = {}

    # --- bindings -------------------------------------------------------------------

    def bind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        ak = freeze_args(args)
        words = split_key(key)
        if "*" in words or "#" in words:
            node = self._root
            for w in words:
                nxt = node.step(w, create=True)
                assert nxt is not None
                node = nxt
        else:
            leaf = self._exact.get(key)
            if leaf is None:
                leaf = self._exact[key] = _Node()
            node = leaf
        held = node.bindings.get(dest)
        if held is None:
            node.bindings[dest] = {ak}
            node.dests = None
            self._cache.clear()
        elif ak in held:
            return
        else:
            held.add(ak)
        self._by_dest.setdefault(dest, set()).add((key, ak))

    def unbind(self, dest: Hashable, key: str, args: Mapping[str, Any]) -> None:
        ak = freeze_args(args)
        self._remove(dest, key, ak)
        owned = self._by_dest.get(dest)
        if owned is not None:
            owned.discard((key, ak))
            if not owned:
                del self._by_dest[dest]

    def remove_destination(self, dest: Hashable) -> None:
        for key, ak in self._by_dest.pop(dest, ()):
            self._remove(dest, key, ak)

    def _remove(self, dest: Hashable, key: str, ak: Hashable) -> None:
        words = split_key(key)
        wild = "*" in words or "#" in words
        path: list[tuple[_Node, str]] = []
        if wild:
            node = self._root
            for w in words:
                nxt = node.step(w, create=False)
                if nxt is None:
                    return
                path.append((node, w))
                node = nxt
        else:
            found = self._exact.get(key)
            if found is None:
                return
            node = found
        held = node.bindings.get(dest)
        if held is None or ak not in held:
            return
        held.discard(ak)
        if held:
            return
        del node.bindings[dest]
        node.dests = None
        self._cache.clear()
        if not wild:
            if not node.bindings:
                del self._exact[key]
            return
        # prune the branch that no longer leads to any binding
        while path and node.is_empty():
            parent, word = path.pop()
            parent.drop(word)
            node = parent

    # --- routing --------------------------------------------------------------------

    def route(self, routing_key: str, headers: Mapping[str, Any] | None) -> tuple[Hashable, ...]:
        cached = self._cache.get(routing_key)
        if cached is not None:
            return cached
        result = self._match(routing_key)
        cache = self._cache
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        cache[routing_key] = result
        return result

    def _match(self, routing_key: str) -> tuple[Hashable, ...]:
        exact = self._exact.get(routing_key)
        root = self._root
        if not (root.children or root.star or root.hash):
            return exact.destinations() if exact is not None else _EMPTY
        live: dict[_Node, None] = {}
        node: _Node | None = root
        while node is not None:
            live[node] = None
            node = node.hash
        for word in split_key(routing_key):
            nxt: dict[_Node, None] = {}
            for n in live:
                if n.is_hash:
                    nxt[n] = None  # its own "#" chain is already live
                # entering a node also enters the "#" nodes below it (zero words)
                node = n.children.get(word)
                while node is not None and node not in nxt:
                    nxt[node] = None
                    node = node.hash
                node = n.star
                while node is not None and node not in nxt:
                    nxt[node] = None
                    node = node.hash
            if not nxt:
                return exact.destinations() if exact is not None else _EMPTY
            live = nxt
        found = [n.destinations() for n in live if n.bindings]
        if exact is not None:
            found.append(exact.destinations())
        if not found:
            return _EMPTY
        if len(found) == 1:
            return found[0]
        return tuple(dict.fromkeys(d for dests in found for d in dests))

    # --- introspection ----------------------------------------------------------------

    def binding_count(self) -> int:
        return sum(len(v) for v in self._by_dest.values())
