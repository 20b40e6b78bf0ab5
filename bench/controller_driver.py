"""Driver for bench/controller.sh (see there). Python so that timing and HTTP polling are cheap."""
import hashlib, hmac, http.client, http.server, json, os, shutil, socket, statistics, subprocess, sys, tempfile, threading, time

BIN = os.environ["BERTH_BIN"]
PUSHES = int(os.environ.get("BENCH_PUSHES", "15"))
ROUTES = int(os.environ.get("BENCH_ROUTES", "10000"))
PASSES = int(os.environ.get("BENCH_PASSES", "100"))
SECRET = "bench-secret"
work = tempfile.mkdtemp(prefix="berth-bench-controller-")
children = []

def log(*args):
    print(*args, file=sys.stderr, flush=True)

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def start(args, name, env=None):
    out = open(os.path.join(work, name + ".log"), "w")
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1", **(env or {})})
    children.append(p)
    return p

def wait_for(predicate, timeout=30, interval=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate(): return True
        except OSError:
            pass
        time.sleep(interval)
    return False

def get(port, path, host="127.0.0.1", method="GET", body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request(method, path, body=body, headers={"Host": host, **(headers or {})})
    r = c.getresponse(); data = r.read(); c.close()
    return r.status, data

def git(*args, cwd):
    subprocess.run(["git", "-c", "user.name=bench", "-c", "user.email=bench@berth.invalid", "-c", "commit.gpgsign=false", *args],
                   cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

class Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers(); self.wfile.write(b"ok\n")
    def log_message(self, *a): pass

def route_doc(i, upstream):
    return f"apiVersion: berth/v1\nkind: Route\nmetadata: {{name: r{i}}}\nspec:\n  domain: app\n  path: /r{i}\n  to: {{url: \"{upstream}\"}}\n"

def push_latencies(mode, redis_url, upstream, proxy_port):
    remote = os.path.join(work, f"{mode}.git"); clone = os.path.join(work, f"{mode}-work")
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", remote], check=True)
    os.makedirs(clone); git("init", "-q", "--initial-branch=main", cwd=clone); git("remote", "add", "origin", remote, cwd=clone)
    prefix = f"{mode}:"
    docs = ["apiVersion: berth/v1\nkind: Domain\nmetadata: {name: app}\nspec:\n  hosts: [%s.example.test]\n  tls: none\n" % mode, route_doc(0, upstream)]
    def commit_and_push(message):
        with open(os.path.join(clone, "edge.yaml"), "w") as f: f.write("---\n".join(docs))
        git("add", "-A", cwd=clone); git("commit", "-q", "-m", message, cwd=clone)
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=clone)
    commit_and_push("initial")
    listen = free_port()
    secret_file = os.path.join(work, "secret"); open(secret_file, "w").write(SECRET + "\n")
    args = [f"{BIN}/berth", "controller", "--repo", "file://" + remote, "--ref", "main", "--redis", redis_url, "--prefix", prefix,
            "--listen", f"127.0.0.1:{listen}", "--holder", f"bench-{mode}"]
    args += ["--interval", "60s", "--webhook-secret-file", secret_file] if mode == "webhook" else ["--interval", "2s"]
    controller = start(args, f"controller-{mode}")
    proxy_admin = free_port()
    proxy = start([f"{BIN}/berth-proxy", "--redis", redis_url, "--prefix", prefix, "--http", f"127.0.0.1:{proxy_port}",
                   "--admin", f"127.0.0.1:{proxy_admin}", "--threads", "1", "--replica-id", f"bench-{mode}"], f"proxy-{mode}")
    host = f"{mode}.example.test"
    assert wait_for(lambda: get(proxy_port, "/r0", host)[0] == 200, 30), f"{mode}: first route never served; see {work}"
    latencies = []
    for i in range(1, PUSHES + 1):
        docs.append(route_doc(i, upstream))
        commit_and_push(f"route {i}")
        pushed = time.monotonic()
        if mode == "webhook":
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            status, _ = get(listen, "/hooks/git", method="POST", body=body, headers={"X-Hub-Signature-256": sig, "Content-Type": "application/json"})
            assert status == 202, status
        assert wait_for(lambda: get(proxy_port, f"/r{i}", host)[0] == 200, 30), f"{mode}: /r{i} never served"
        latencies.append((time.monotonic() - pushed) * 1000)
    controller.terminate(); proxy.terminate(); controller.wait(); proxy.wait()
    return latencies

def idle_passes(redis_url):
    repo = os.path.join(work, "big"); os.makedirs(repo)
    width = len(str(ROUTES))
    for part in range(4):
        with open(os.path.join(repo, f"domains-{part}.yaml"), "w") as f:
            f.write("---\n".join(f"apiVersion: berth/v1\nkind: Domain\nmetadata: {{name: d{i:0{width}d}}}\nspec:\n  hosts: [d{i:0{width}d}.example.test]\n  tls: none\n"
                                  for i in range(part, ROUTES, 4)))
        with open(os.path.join(repo, f"routes-{part}.yaml"), "w") as f:
            f.write("---\n".join(f"apiVersion: berth/v1\nkind: Route\nmetadata: {{name: r{i:0{width}d}}}\nspec:\n  domain: d{i:0{width}d}\n  path: /p{i}\n  to: {{url: \"http://127.0.0.1:8081\"}}\n"
                                  + (f"  auth: a{i // 10:0{width}d}\n" if i % 10 == 0 else "") for i in range(part, ROUTES, 4)))
    with open(os.path.join(repo, "auth.yaml"), "w") as f:
        f.write("---\n".join(f"apiVersion: berth/v1\nkind: AuthPolicy\nmetadata: {{name: a{i:0{width}d}}}\nspec:\n  bearer:\n    tokens:\n      - {{name: t, sha256: {hashlib.sha256(str(i).encode()).hexdigest()}}}\n"
                              for i in range(ROUTES // 10)))
    listen = free_port()
    controller = start([f"{BIN}/berth", "controller", "--repo", repo, "--redis", redis_url, "--prefix", "big:", "--interval", "10ms",
                        "--listen", f"127.0.0.1:{listen}", "--holder", "bench-idle"], "controller-idle")
    def status():
        return json.loads(get(listen, "/status")[1])
    assert wait_for(lambda: status().get("last_pass", {}).get("outcome") in ("applied", "unchanged"), 300, 0.2), f"big repository never applied; see {work}"
    first = status()["passes"]
    rss, durations, seen = {}, [], first
    def vmrss():
        for line in open(f"/proc/{controller.pid}/status"):
            if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
    while seen - first < PASSES:
        s = status()
        if s["passes"] != seen:
            seen = s["passes"]
            last = s["last_pass"]
            assert last["outcome"] == "unchanged", last
            durations.append(last["duration_ms"])
            n = seen - first
            for mark in (1, 10, 50, 100, PASSES):
                if n >= mark and mark not in rss: rss[mark] = vmrss()
        time.sleep(0.002)
    controller.terminate(); controller.wait()
    return durations, rss

try:
    redis_port = free_port()
    start(["redis-server", "--bind", "127.0.0.1", "--port", str(redis_port), "--save", "", "--appendonly", "no", "--dir", work], "redis")
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    assert wait_for(lambda: socket.create_connection(("127.0.0.1", redis_port)).close() or True, 10)
    upstream_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", upstream_port), Upstream)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    upstream = f"http://127.0.0.1:{upstream_port}"

    log(f"== push-to-live with the webhook ({PUSHES} pushes)")
    webhook = push_latencies("webhook", redis_url, upstream, free_port())
    log(f"== push-to-live with polling every 2 s ({PUSHES} pushes)")
    polling = push_latencies("polling", redis_url, upstream, free_port())
    log(f"== idle passes over {ROUTES} domains + {ROUTES} routes + {ROUTES // 10} policies ({PASSES} passes)")
    durations, rss = idle_passes(redis_url)

    def summary(values):
        values = sorted(values)
        return f"median {statistics.median(values):7.0f} ms   min {values[0]:6.0f}   max {values[-1]:6.0f}"
    print(f"\nController benchmark (berth {os.environ.get('BENCH_REVISION', '?')}, {os.cpu_count()} cores)")
    print(f"  push-to-live, webhook        {summary(webhook)}   (target < 1000 ms median)")
    print(f"  push-to-live, polling 2 s    {summary(polling)}   (target < 3000 ms median)")
    print(f"  idle pass, {ROUTES} routes    {summary(durations)}   (target < 1000 ms)")
    print("  controller RSS after pass    " + "   ".join(f"#{k}: {v:.1f} MB" for k, v in sorted(rss.items())))
finally:
    for p in children:
        if p.poll() is None: p.terminate()
    for p in children:
        try: p.wait(timeout=10)
        except subprocess.TimeoutExpired: p.kill()
    if not os.environ.get("BENCH_KEEP"): shutil.rmtree(work, ignore_errors=True)
    else: log(f"kept {work}")
