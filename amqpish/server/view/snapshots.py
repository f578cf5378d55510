"""The read side, part one: identity, the node, the overview, users and vhosts.

Every method returns fresh immutable snapshots (``amqpish.admin``) of the model at one
instant; nothing here changes the broker. Queues, exchanges, bindings, consumers,
connections and channels are in ``objects``.
"""

from __future__ import annotations

import os
import resource
import time

from amqpish import __version__
from amqpish.admin import (
    ListenerInfo,
    NodeInfo,
    Overview,
    PermissionInfo,
    PolicyInfo,
    UserInfo,
    VHostInfo,
)
from amqpish.broker.auth import HASHING_ALGORITHM, User
from amqpish.broker.vhost import EXCHANGE_TYPES, VHost
from amqpish.server.view.convert import PRODUCT_NAME
from amqpish.server.view.sampling import Sampling


class NodeSnapshots(Sampling):
    """BrokerView: identity, node, overview, users, vhosts, permissions, policies."""

    def now(self) -> float:
        return time.time()

    def authenticate(self, name: str, password: str) -> UserInfo | None:
        u = self.broker.users.authenticate(name, password)
        return None if u is None else self._user_info(u)

    def loopback_only(self, user: str) -> bool:
        return user in self.server.config.loopback_users

    def cluster_name(self) -> str:
        return self._cluster_name

    def node_name(self) -> str:
        return self.server.config.cluster_name

    _node_name = node_name

    def _listeners(self) -> tuple[ListenerInfo, ...]:
        return tuple(
            ListenerInfo(proto, str(h), int(p)) for proto, (h, p) in self.server.addresses.items()
        )

    def _alarms(self) -> tuple[str, ...]:
        alarms: list[str] = []
        if self.server.publishers_blocked:
            alarms.append("memory")
        free = self._disk_free()
        if 0 <= free < self.server.config.disk_free_limit:
            alarms.append("disk")
        return tuple(alarms)

    def _disk_free(self) -> int:
        path = str(self.server.config.data_dir)
        while path and not os.path.exists(path):
            path = os.path.dirname(path.rstrip("/")) or "."
        try:
            st = os.statvfs(path or ".")
        except OSError:
            return -1
        return st.f_bavail * st.f_frsize

    def overview(self) -> Overview:
        ready = unacked = consumers = queues = exchanges = 0
        for vh in self.broker.vhosts.values():
            queues += len(vh.queues)
            exchanges += len(vh.exchanges)
            for q in vh.queues.values():
                ready += len(q.ready)
                unacked += q.unacked_count
                consumers += len(q.consumers)
        conns = list(self.server.connections)
        channels = sum(len(ac.session.channels) for ac in conns)
        live = {"messages_ready": ready, "messages_unacknowledged": unacked}
        churn = self._churn()
        return Overview(
            taken_at=self.now(),
            node=self._node_name(),
            cluster_name=self._cluster_name,
            product_name=PRODUCT_NAME,
            product_version=__version__,
            started_at=self.server.started_at,
            listeners=self._listeners(),
            exchange_types=tuple(sorted(EXCHANGE_TYPES)),
            object_totals={
                "channels": channels,
                "connections": len(conns),
                "consumers": consumers,
                "exchanges": exchanges,
                "queues": queues,
            },
            messages_ready=ready,
            messages_unacknowledged=unacked,
            stats=self._aggregate_stats("*", live),
            churn=churn,
            alarms=self._alarms(),
        )

    def node(self) -> NodeInfo:
        page = os.sysconf("SC_PAGE_SIZE")
        try:
            with open("/proc/self/statm") as fh:
                rss = int(fh.read().split()[1]) * page
        except (OSError, ValueError, IndexError):
            rss = 0
        try:
            fd_used = len(os.listdir("/proc/self/fd"))
        except OSError:
            fd_used = 0
        fd_total = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        cfg = self.server.config
        free = self._disk_free()
        conns = len(self.server.connections)
        return NodeInfo(
            name=self._node_name(),
            uptime_ms=int((time.time() - self.server.started_at) * 1000),
            os_pid=os.getpid(),
            processors=os.cpu_count() or 1,
            mem_used=rss,
            mem_limit=cfg.memory_limit_bytes(),
            mem_alarm=self.server.publishers_blocked,
            disk_free=max(free, 0),
            disk_free_limit=cfg.disk_free_limit,
            disk_free_alarm=0 <= free < cfg.disk_free_limit,
            fd_used=fd_used,
            fd_total=fd_total if fd_total > 0 else 1024,
            sockets_used=conns,
            sockets_total=max(fd_total - 100, 0) if fd_total > 0 else 0,
            proc_used=self._task_count(),
            proc_total=1048576,
            run_queue=0,
            data_dir=str(cfg.data_dir),
            stats=self._churn(),
        )

    def _task_count(self) -> int:
        try:
            import trio

            root = trio.lowlevel.current_root_task()
        except RuntimeError:
            return 0
        if root is None:
            return 0
        n = 0
        stack = [root]
        while stack and n < 1_000_000:
            t = stack.pop()
            n += 1
            for nursery in t.child_nurseries:
                stack.extend(nursery.child_tasks)
        return n

    # --- users, vhosts, permissions, policies -----------------------------------------------

    def _user_info(self, u: User) -> UserInfo:
        return UserInfo(u.name, u.password_hash, HASHING_ALGORITHM, tuple(u.tags))

    def users(self) -> list[UserInfo]:
        return [self._user_info(u) for u in self.broker.users.users.values()]

    def user(self, name: str) -> UserInfo | None:
        u = self.broker.users.users.get(name)
        return None if u is None else self._user_info(u)

    def vhost_names(self) -> list[str]:
        return list(self.broker.vhosts)

    def _vhost_info(self, vh: VHost) -> VHostInfo:
        ready = unacked = 0
        for q in vh.queues.values():
            ready += len(q.ready)
            unacked += q.unacked_count
        live = {"messages_ready": ready, "messages_unacknowledged": unacked}
        recv = send = 0
        for ac in self.server.connections:
            if ac.session.vhost_name == vh.name:
                recv += ac.session.recv_bytes
                send += ac.session.send_bytes
        return VHostInfo(
            name=vh.name,
            description=vh.description,
            tags=tuple(vh.tags),
            default_queue_type=str(getattr(vh, "default_queue_type", "classic")),
            tracing=vh.tracing,
            messages_ready=ready,
            messages_unacknowledged=unacked,
            stats=self._aggregate_stats(vh.name, live),
        )

    def vhosts(self) -> list[VHostInfo]:
        return [self._vhost_info(vh) for vh in self.broker.vhosts.values()]

    def vhost(self, name: str) -> VHostInfo | None:
        vh = self.broker.vhosts.get(name)
        return None if vh is None else self._vhost_info(vh)

    def permissions(
        self, *, vhost: str | None = None, user: str | None = None
    ) -> list[PermissionInfo]:
        out: list[PermissionInfo] = []
        for (u, v), p in self.broker.users.permissions.items():
            if (vhost is None or v == vhost) and (user is None or u == user):
                out.append(PermissionInfo(u, v, p.configure, p.write, p.read))
        return out

    def policies(self, vhost: str | None = None) -> list[PolicyInfo]:
        out: list[PolicyInfo] = []
        for vh in self.broker.vhosts.values():
            if vhost is not None and vh.name != vhost:
                continue
            for name, pol in vh.policies.items():
                out.append(
                    PolicyInfo(
                        vh.name,
                        name,
                        str(pol.get("pattern", "")),
                        str(pol.get("apply-to", "all")),
                        dict(pol.get("definition", {})),
                        int(pol.get("priority", 0)),
                    )
                )
        return out


__all__ = ["NodeSnapshots"]
