#!/usr/bin/python3
"""Kubernetes CRI scenarios against containerd's CRI plugin, as the kubelet would drive them.

usage: cri_test.py test|cleanup
Environment (set by ../cri.sh): CRI_SOCK (containerd's socket), CRI_PY (dir with api_pb2.py
generated from api.proto), CRI_HANDLER (runtime handler name), CG_PARENT (absolute cgroup
parent for the pods), CRI_WORK (scratch dir for logs), RUNTIME_LOG (argv log of the runtime
wrapper), CRI_TIMEOUT (seconds per RPC).

Prints one TAP-style line per scenario ("ok - cri ..." / "not ok - cri ...", with the transcript
and the runtime calls made meanwhile); exits 1 if any failed.
"""
import json
import os
import sys
import time
import traceback

sys.path.insert(0, os.environ["CRI_PY"])
import grpc  # noqa: E402
from google.protobuf import json_format  # noqa: E402
import api_pb2 as cri  # noqa: E402

SOCK = os.environ["CRI_SOCK"]
HANDLER = os.environ.get("CRI_HANDLER", "hull")
CG_PARENT = os.environ["CG_PARENT"]
WORK = os.environ["CRI_WORK"]
RUNTIME_LOG = os.environ.get("RUNTIME_LOG", "")
TIMEOUT = float(os.environ.get("CRI_TIMEOUT", "60"))
IMAGE = "localhost/bb:latest"

POD, CONTAINER, NODE = 0, 1, 2
RUNNING, EXITED = cri.CONTAINER_RUNNING, cri.CONTAINER_EXITED


class Failed(Exception):
    pass


class Client:
    def __init__(self, sock):
        self.channel = grpc.insecure_channel("unix://" + sock)
        self.transcript = []

    def call(self, service, method, request=None, timeout=TIMEOUT):
        req = json_format.ParseDict(request or {}, getattr(cri, method + "Request")())
        fn = self.channel.unary_unary(
            "/runtime.v1.%s/%s" % (service, method),
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=getattr(cri, method + "Response").FromString)
        self.transcript.append("> %s %s" % (method, json.dumps(request or {})))
        try:
            resp = fn(req, timeout=timeout)
        except grpc.RpcError as e:
            self.transcript.append("< %s error: %s: %s" % (method, e.code(), e.details()))
            raise Failed("%s failed: %s: %s" % (method, e.code(), e.details())) from None
        text = json_format.MessageToJson(resp, indent=None, preserving_proto_field_name=True)
        self.transcript.append("< %s %s" % (method, text[:500]))
        return resp

    def rt(self, method, request=None, timeout=TIMEOUT):
        return self.call("RuntimeService", method, request, timeout)

    def img(self, method, request=None):
        return self.call("ImageService", method, request)


def check(cond, msg):
    if not cond:
        raise Failed(msg)


def wait(pred, secs, what):
    deadline = time.time() + secs
    while True:
        v = pred()
        if v:
            return v
        if time.time() > deadline:
            raise Failed("timed out after %ss waiting for %s" % (secs, what))
        time.sleep(0.1)


def runtime_log_lines():
    try:
        with open(RUNTIME_LOG) as f:
            return f.read().splitlines()
    except OSError:
        return []


def proc_cgroup(pid, controller):
    with open("/proc/%d/cgroup" % pid) as f:
        for line in f:
            _, ctrls, path = line.rstrip("\n").split(":", 2)
            if controller in ctrls.split(","):
                return path
    return None


def ns(pid, kind):
    return os.readlink("/proc/%s/ns/%s" % (pid, kind))


class Lane:
    def __init__(self):
        self.c = Client(SOCK)
        self.passed = 0
        self.failed = 0
        self.pods = {}
        self.ctrs = {}

    def scenario(self, name, fn):
        self.c.transcript = []
        before = len(runtime_log_lines())
        t0 = time.time()
        try:
            fn()
            ok, err = True, None
        except Failed as e:
            ok, err = False, str(e)
        except Exception:  # a bug in the test or an unexpected answer: report, go on
            ok, err = False, traceback.format_exc()
        secs = "(%.1fs)" % (time.time() - t0)
        if ok:
            self.passed += 1
            print("ok - %s %s" % (name, secs), flush=True)
            if os.environ.get("HULL_CLIENTS_VERBOSE") == "1":
                for line in self.c.transcript:
                    print("#   " + line)
            return
        self.failed += 1
        print("not ok - %s %s" % (name, secs))
        for line in self.c.transcript[-30:]:
            print("#   " + line)
        for line in err.splitlines():
            print("#   FAIL: " + line)
        calls = runtime_log_lines()[before:]
        if calls:
            print("#   runtime calls during this scenario:")
            for line in calls[-40:]:
                print("#     " + line)
        sys.stdout.flush()

    # -- helpers ---------------------------------------------------------------------------
    def run_pod(self, name, pid_mode):
        nso = {"network": NODE, "pid": pid_mode, "ipc": POD}
        cfg = {
            "metadata": {"name": name, "uid": "uid-" + name, "namespace": "hull-clients", "attempt": 0},
            "log_directory": os.path.join(WORK, "pods", name),
            "linux": {"cgroup_parent": "%s/%s" % (CG_PARENT, name),
                      "security_context": {"namespace_options": nso}},
        }
        os.makedirs(cfg["log_directory"], exist_ok=True)
        r = self.c.rt("RunPodSandbox", {"config": cfg, "runtime_handler": HANDLER})
        self.pods[name] = (r.pod_sandbox_id, cfg, nso)
        return r.pod_sandbox_id

    def pod_status(self, name):
        pid_, cfg, _ = self.pods[name]
        r = self.c.rt("PodSandboxStatus", {"pod_sandbox_id": pid_, "verbose": True})
        info = json.loads(r.info.get("info", "{}"))
        return r.status, info

    def create(self, pod, name, command, memory=0, security=None):
        pod_id, pod_cfg, nso = self.pods[pod]
        cfg = {
            "metadata": {"name": name, "attempt": 0},
            "image": {"image": IMAGE},
            "command": command,
            "log_path": name + ".log",
            "linux": {"security_context": dict(security or {}, namespace_options=nso)},
        }
        if memory:
            cfg["linux"]["resources"] = {"memory_limit_in_bytes": memory, "oom_score_adj": 500}
        r = self.c.rt("CreateContainer", {"pod_sandbox_id": pod_id, "config": cfg,
                                         "sandbox_config": pod_cfg})
        self.ctrs[name] = (r.container_id, pod)
        return r.container_id

    def status(self, name):
        r = self.c.rt("ContainerStatus", {"container_id": self.ctrs[name][0], "verbose": True})
        info = json.loads(r.info.get("info", "{}"))
        return r.status, info

    def start(self, name):
        self.c.rt("StartContainer", {"container_id": self.ctrs[name][0]})
        wait(lambda: self.status(name)[0].state == RUNNING, 30, name + " RUNNING")
        return self.status(name)[1]["pid"]

    def exec_sync(self, name, cmd, timeout=30):
        return self.c.rt("ExecSync", {"container_id": self.ctrs[name][0], "cmd": cmd,
                                     "timeout": timeout}, timeout=timeout + 10)

    def stop_remove(self, name, timeout=0):
        cid = self.ctrs[name][0]
        self.c.rt("StopContainer", {"container_id": cid, "timeout": timeout})
        self.c.rt("RemoveContainer", {"container_id": cid})
        del self.ctrs[name]

    # -- scenarios -------------------------------------------------------------------------
    def s_run_pod(self):
        v = self.c.rt("Version", {"version": "v1"})
        check(v.runtime_name == "containerd", "runtime name %r" % v.runtime_name)
        self.c.img("ImageStatus", {"image": {"image": IMAGE}})
        self.run_pod("pod1", CONTAINER)
        st, info = self.pod_status("pod1")
        check(st.state == cri.SANDBOX_READY, "pod1 state %s, not READY" % st.state)
        pid = info["pid"]
        cg = proc_cgroup(pid, "memory")
        check(cg.startswith(CG_PARENT + "/pod1/"), "sandbox memory cgroup %r not under %s/pod1" % (cg, CG_PARENT))
        check(info.get("runtimeHandler") == HANDLER, "runtime handler %r" % info.get("runtimeHandler"))

    def s_create_start(self):
        self.create("pod1", "c1", ["sh", "-c", "echo started; exec sleep 600"], memory=64 << 20)
        pid = self.start("c1")
        _, pinfo = self.pod_status("pod1")
        spid = pinfo["pid"]
        # The sandbox namespaces joined by path: ipc (POD) and the host's net; its own pid ns.
        check(ns(pid, "ipc") == ns(spid, "ipc"), "c1 ipc %s != sandbox ipc %s" % (ns(pid, "ipc"), ns(spid, "ipc")))
        check(ns(pid, "ipc") != ns("self", "ipc"), "c1 in the host's ipc namespace")
        check(ns(pid, "net") == ns("self", "net"), "c1 not in the host network namespace")
        check(ns(pid, "pid") != ns(spid, "pid"), "c1 shares the sandbox pid namespace (pid mode CONTAINER)")
        cg = proc_cgroup(pid, "memory")
        check(cg.startswith(CG_PARENT + "/pod1/"), "c1 memory cgroup %r not under %s/pod1" % (cg, CG_PARENT))
        with open("/sys/fs/cgroup/memory%s/memory.limit_in_bytes" % cg) as f:
            limit = f.read().strip()
        check(limit == str(64 << 20), "c1 memory limit %s" % limit)

    def s_exec_sync(self):
        r = self.exec_sync("c1", ["sh", "-c", "echo exec-out; echo exec-err >&2; exit 3"])
        check(r.exit_code == 3, "exit code %d, expected 3" % r.exit_code)
        check(r.stdout == b"exec-out\n", "stdout %r" % r.stdout)
        check(r.stderr == b"exec-err\n", "stderr %r" % r.stderr)
        r = self.exec_sync("c1", ["cat", "/sys/fs/cgroup/memory/memory.limit_in_bytes"])
        check(r.exit_code == 0 and r.stdout.strip() == str(64 << 20).encode(),
              "memory limit seen inside: %r (exit %d)" % (r.stdout, r.exit_code))

    def s_exec_oom(self):
        # The kubelet's QoS oom_score_adj applies to exec'd processes (probes, kubectl exec)
        # too: runc gives them the container's value, not the shim's.
        r = self.exec_sync("c1", ["cat", "/proc/self/oom_score_adj"])
        check(r.stdout.strip() == b"500", "exec'd process oom_score_adj %r, container's is 500" % r.stdout)

    def s_status(self):
        st, info = self.status("c1")
        check(st.state == RUNNING, "state %s" % st.state)
        check(st.started_at > 0, "started_at %d" % st.started_at)
        log = os.path.join(WORK, "pods", "pod1", "c1.log")
        wait(lambda: os.path.exists(log) and "started" in open(log).read(), 10, "'started' in " + log)

    def s_stop(self):
        t0 = time.time()
        self.c.rt("StopContainer", {"container_id": self.ctrs["c1"][0], "timeout": 2}, timeout=TIMEOUT + 2)
        took = time.time() - t0
        st, _ = self.status("c1")
        check(st.state == EXITED, "state %s after StopContainer" % st.state)
        # sleep as pid 1 has no SIGTERM handler: SIGKILL after the 2 s grace period.
        check(st.exit_code == 137, "exit code %d, expected 137" % st.exit_code)
        check(took >= 1.9, "StopContainer took %.1fs: SIGKILL before the grace period" % took)

    def s_hardened(self):
        # What a restricted pod gets from the kubelet: runtime-default seccomp, read-only root,
        # a non-root user, no_new_privs, no capabilities, masked and read-only paths.
        sec = {
            "run_as_user": {"value": 1000},
            "readonly_rootfs": True,
            "no_new_privs": True,
            "capabilities": {"drop_capabilities": ["ALL"]},
            "seccomp": {"profile_type": "RuntimeDefault"},
            "masked_paths": ["/proc/kcore", "/proc/keys"],
            "readonly_paths": ["/proc/sys", "/proc/sysrq-trigger"],
        }
        self.create("pod1", "c4", ["sleep", "600"], security=sec)
        try:
            self.hardened_checks()
        finally:
            self.stop_remove("c4")

    def hardened_checks(self):
        self.start("c4")
        r = self.exec_sync("c4", ["sh", "-c", "id -u; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status"])
        out = r.stdout.decode()
        check(r.exit_code == 0, "exit %d: %r %r" % (r.exit_code, r.stdout, r.stderr))
        for want in ("1000\n", "Seccomp:\t2", "NoNewPrivs:\t1", "CapEff:\t0000000000000000"):
            check(want in out, "%r not in:\n%s" % (want, out))
        r = self.exec_sync("c4", ["touch", "/x"])
        check(r.exit_code != 0 and b"Read-only file system" in r.stderr, "touch /x: exit %d %r" % (r.exit_code, r.stderr))
        r = self.exec_sync("c4", ["sh", "-c", "wc -c < /proc/keys"])
        check(r.stdout.strip() == b"0", "masked /proc/keys reads %r %r" % (r.stdout, r.stderr))
        r = self.exec_sync("c4", ["sh", "-c", "grep ' /proc/sys ' /proc/mounts"])
        check(b" ro," in r.stdout or b" ro " in r.stdout, "/proc/sys not read-only: %r" % r.stdout)

    def s_exit_by_itself(self):
        self.create("pod1", "c3", ["sh", "-c", "echo bye; exit 7"])
        self.c.rt("StartContainer", {"container_id": self.ctrs["c3"][0]})
        wait(lambda: self.status("c3")[0].state == EXITED, 30, "c3 EXITED")
        st, _ = self.status("c3")
        check(st.exit_code == 7, "exit code %d, expected 7" % st.exit_code)
        # The kubelet stops exited containers too (containerd then sends kill --all 9).
        self.c.rt("StopContainer", {"container_id": self.ctrs["c3"][0], "timeout": 0})

    def s_remove(self):
        for name in ("c1", "c3"):
            self.c.rt("RemoveContainer", {"container_id": self.ctrs[name][0]})
        pod_id = self.pods["pod1"][0]
        r = self.c.rt("ListContainers", {"filter": {"pod_sandbox_id": pod_id}})
        check(len(r.containers) == 0, "containers left in pod1: %s" % [c.id for c in r.containers])
        for name in ("c1", "c3"):
            self.check_no_state(self.ctrs.pop(name)[0])

    def check_no_state(self, cid):
        """The runtime's state dir for cid (under the shim's Root option) is gone."""
        root = os.environ["RUNTIME_ROOT"]
        for dirpath, dirnames, _ in os.walk(root):
            check(cid not in dirnames, "runtime state dir %s/%s left" % (dirpath, cid))

    def s_shared_pid(self):
        self.run_pod("pod2", POD)
        self.create("pod2", "c2a", ["sleep", "601"])
        self.create("pod2", "c2b", ["sleep", "602"])
        self.start("c2a")
        self.start("c2b")
        r = self.exec_sync("c2b", ["ps", "-o", "pid,args"])
        out = r.stdout.decode()
        check(r.exit_code == 0, "ps exit %d: %r" % (r.exit_code, r.stderr))
        check("sleep 601" in out, "c2b does not see c2a's 'sleep 601':\n" + out)
        check("sleep 2147483647" in out, "c2b does not see the sandbox's pause process:\n" + out)
        r = self.exec_sync("c2a", ["ps", "-o", "pid,args"])
        check("sleep 602" in r.stdout.decode(), "c2a does not see c2b's 'sleep 602':\n" + r.stdout.decode())
        for name in ("c2a", "c2b"):
            self.stop_remove(name)

    def s_stop_remove_pods(self):
        for name in list(self.pods):
            pod_id = self.pods[name][0]
            self.c.rt("StopPodSandbox", {"pod_sandbox_id": pod_id})
            st, _ = self.pod_status(name)
            check(st.state == cri.SANDBOX_NOTREADY, "%s state %s after StopPodSandbox" % (name, st.state))
            self.c.rt("StopPodSandbox", {"pod_sandbox_id": pod_id})   # idempotent
            self.c.rt("RemovePodSandbox", {"pod_sandbox_id": pod_id})
            self.check_no_state(pod_id)
            del self.pods[name]
        r = self.c.rt("ListPodSandbox", {})
        check(len(r.items) == 0, "sandboxes left: %s" % [p.id for p in r.items])

    def run(self):
        steps = [
            ("cri RunPodSandbox (host network, runtime handler, cgroup parent)", self.s_run_pod),
            ("cri CreateContainer + StartContainer (joins the sandbox namespaces by path, memory limit)", self.s_create_start),
            ("cri ExecSync exit status, stdout, stderr", self.s_exec_sync),
            ("cri ExecSync: the process has the container's oom_score_adj", self.s_exec_oom),
            ("cri ContainerStatus and container log", self.s_status),
            ("cri StopContainer (SIGKILL after the grace period)", self.s_stop),
            ("cri hardened container: RuntimeDefault seccomp, read-only rootfs, non-root, no caps, masked paths", self.s_hardened),
            ("cri container exiting by itself: exit code, StopContainer after exit", self.s_exit_by_itself),
            ("cri RemoveContainer", self.s_remove),
            ("cri shared pid namespace: containers of one pod see each other's processes", self.s_shared_pid),
            ("cri StopPodSandbox + RemovePodSandbox", self.s_stop_remove_pods),
        ]
        for name, fn in steps:
            self.scenario(name, fn)
        return self.failed == 0


def cleanup():
    """Remove every sandbox (and so every container) the CRI plugin knows."""
    c = Client(SOCK)
    for ctr in c.rt("ListContainers", {}).containers:
        try:
            c.rt("StopContainer", {"container_id": ctr.id, "timeout": 0})
            c.rt("RemoveContainer", {"container_id": ctr.id})
        except Failed as e:
            print(e)
    for pod in c.rt("ListPodSandbox", {}).items:
        try:
            c.rt("StopPodSandbox", {"pod_sandbox_id": pod.id})
            c.rt("RemovePodSandbox", {"pod_sandbox_id": pod.id})
        except Failed as e:
            print(e)


if __name__ == "__main__":
    if sys.argv[1:] == ["cleanup"]:
        cleanup()
        sys.exit(0)
    sys.exit(0 if Lane().run() else 1)
