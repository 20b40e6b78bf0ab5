"""Driver for bench/instances.sh: see there for what is measured."""
import hashlib, http.client, json, os, re, shutil, socket, statistics, subprocess, sys, tempfile, time

BIN = os.environ["BERTH_BIN"]
RUNS = int(os.environ.get("BENCH_RUNS", "5"))
IMAGE = "berth-bench/busybox:1"
HOST = "app.example.test"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_image():
    if subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True).returncode == 0:
        return
    root = tempfile.mkdtemp(prefix="berth-bench-rootfs")
    for d in ["bin", "www", "tmp", "etc"]:
        os.makedirs(f"{root}/{d}")
    shutil.copy("/bin/busybox", f"{root}/bin/busybox")
    for applet in ["sh", "httpd", "mkdir", "echo", "sleep"]:
        os.symlink("busybox", f"{root}/bin/{applet}")
    subprocess.run(f"tar -C {root} -c . | docker import --change 'ENV PATH=/bin' - {IMAGE}", shell=True, check=True, capture_output=True)
    shutil.rmtree(root)


def get(port, path="/version"):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        c.request("GET", path, headers={"Host": HOST})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body
    except OSError:
        return 0, ""


def container(version, replicas=1):
    return f"""apiVersion: berth/v1
kind: Instance
metadata: {{name: web}}
spec:
  image: {IMAGE}
  command: [sh, -c, 'mkdir -p /tmp/www && echo ok > /tmp/www/healthz && echo "$VERSION" > /tmp/www/version && exec httpd -f -p 8080 -h /tmp/www']
  env: {{VERSION: "{version}"}}
  replicas: {replicas}
  ports: [{{name: http, containerPort: 8080}}]
  health: {{path: /healthz, interval: 1s, timeout: 500ms}}
"""


def process(version, script):
    return f"""apiVersion: berth/v1
kind: Instance
metadata: {{name: web}}
spec:
  runtime: process
  command: [python3, "{script}"]
  env: {{VERSION: "{version}"}}
  ports: [{{name: http}}]
  health: {{path: /healthz, interval: 1s, timeout: 500ms}}
"""


SERVER = """import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = (b"ok\\n" if self.path == "/healthz" else (os.environ.get("VERSION", "") + "\\n").encode())
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT_HTTP"])), H).serve_forever()
"""

BASE = """apiVersion: berth/v1
kind: Domain
metadata: {name: app}
spec: {hosts: [app.example.test], tls: none}
---
apiVersion: berth/v1
kind: Route
metadata: {name: web}
spec: {domain: app, path: /, to: {instance: web}}
"""


class Stack:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="berth-bench-inst")
        self.repo = f"{self.dir}/repo"
        os.makedirs(self.repo)
        self.redis_port = free_port()
        self.redis = subprocess.Popen(["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                      stdout=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.redis_port}/0"
        time.sleep(0.3)
        self.namespace = hashlib.sha256(f"{self.url}|berth:".encode()).hexdigest()[:12]
        low = 22000 + (os.getpid() % 50) * 100
        self.proxy_port = free_port()
        self.controller = subprocess.Popen([f"{BIN}/berth", "controller", "--repo", self.repo, "--redis", self.url, "--interval", "30s",
                                            "--listen", f"127.0.0.1:{free_port()}", "--port-range", f"{low}-{low + 99}", "--drain", "1s",
                                            "--proxy-wait", "5s", "--stop-grace", "2s"],
                                           stdout=open(f"{self.dir}/controller.log", "w"), stderr=subprocess.STDOUT)
        self.proxy = subprocess.Popen([f"{BIN}/berth-proxy", "--redis", self.url, "--http", f"127.0.0.1:{self.proxy_port}",
                                       "--admin", f"127.0.0.1:{free_port()}", "--threads", "1", "--replica-id", "bench"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)

    def write(self, name, text):
        with open(f"{self.repo}/{name}.tmp", "w") as f:
            f.write(text)
        os.rename(f"{self.repo}/{name}.tmp", f"{self.repo}/{name}")

    def sync(self):
        subprocess.run([f"{BIN}/berth", "sync", "--redis", self.url], check=True, capture_output=True)

    def wait_for(self, body, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, text = get(self.proxy_port)
            if status == 200 and text == body:
                return True
            time.sleep(0.01)
        return False

    def stop(self):
        self.controller.terminate()
        self.controller.wait(30)
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=berth.managed={self.namespace}"], capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True)
        self.proxy.terminate()
        self.redis.terminate()
        self.proxy.wait(10)
        self.redis.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def apply_to_first_request(kind, script):
    times = []
    for run in range(RUNS):
        stack = Stack()
        try:
            stack.write("base.yaml", BASE)
            stack.sync()
            time.sleep(1.5)
            version = f"{kind}-{run}"
            stack.write("instance.yaml", container(version) if kind == "container" else process(version, script))
            started = time.time()
            stack.sync()
            if not stack.wait_for(version + "\n"):
                print(f"  {kind} run {run}: not served within 120 s; controller log:\n" + open(f"{stack.dir}/controller.log").read()[-2000:])
                continue
            times.append(time.time() - started)
        finally:
            stack.stop()
    return times


def rolling_replace():
    results = []
    for run in range(max(1, RUNS // 2)):
        stack = Stack()
        try:
            stack.write("base.yaml", BASE)
            stack.write("instance.yaml", container("v1", replicas=3))
            stack.sync()
            if not stack.wait_for("v1\n"):
                print("  replace: v1 never served")
                continue
            time.sleep(2)
            wrk = subprocess.Popen(["wrk", "-t1", "-c8", "-d20s", "-H", f"Host: {HOST}", f"http://127.0.0.1:{stack.proxy_port}/version"],
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(4)
            started = time.time()
            stack.write("instance.yaml", container("v2", replicas=3))
            stack.sync()
            stack.wait_for("v2\n", timeout=60)
            first_new = time.time() - started
            # Done when only the 3 new containers are left.
            deadline = time.time() + 60
            while time.time() < deadline:
                names = subprocess.run(["docker", "ps", "-a", "--filter", f"label=berth.managed={stack.namespace}", "--format", "{{.Label \"berth.template\"}}"],
                                       capture_output=True, text=True).stdout.split()
                if len(names) == 3 and len(set(names)) == 1:
                    break
                time.sleep(0.1)
            done = time.time() - started
            out, _ = wrk.communicate()
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", out)) else 0
            errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)) if "Socket errors" in out else 0
            results.append((requests, non2xx, errors, first_new, done))
        finally:
            stack.stop()
    return results


def main():
    ensure_image()
    script = tempfile.mktemp(prefix="berth-bench-server", suffix=".py")
    with open(script, "w") as f:
        f.write(SERVER)
    print(f"Instance benchmark, revision {os.environ.get('BENCH_REVISION', '?')}, binaries {BIN}, {RUNS} runs each")
    for kind in ["container", "process"]:
        times = apply_to_first_request(kind, script)
        if times:
            print(f"apply → first request served ({kind}): median {statistics.median(times) * 1000:.0f} ms, "
                  f"min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f} ms over {len(times)} runs")
    for requests, non2xx, errors, first_new, done in rolling_replace():
        print(f"rolling replace of 3 container replicas under wrk -c8: {requests} requests, {non2xx} non-2xx, {errors} socket errors; "
              f"new version served after {first_new * 1000:.0f} ms, old replicas gone after {done * 1000:.0f} ms")
    os.unlink(script)


if __name__ == "__main__":
    main()
