// Command refcache is the reference side of the benchmarks (test/bench): it runs the kubelet's
// own watch-based Secret and ConfigMap managers (k8s.io/kubernetes/pkg/kubelet/secret and
// .../configmap, built from the same module as the API server), fed by a client-go Pod
// informer the way a kubelet feeds them, or, in -mode=informer, the alternative that watches
// every Secret and ConfigMap of the cluster with one informer per kind.
//
// It is driven over standard input and output, one JSON object per line: each command
// {"id":1,"op":"..."} gets exactly one answer {"id":1,"ok":true,...} (or "ok":false with
// "error"). The operations and their answers are those of test/bench/protocol.ts, which the
// TypeScript runner implements too. Log lines go to standard error. Nothing here ever prints a
// Secret's or ConfigMap's content.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// command is one request of the bench orchestrator.
type command struct {
	ID              int     `json:"id"`
	Op              string  `json:"op"`
	TimeoutMs       float64 `json:"timeoutMs"`
	Kind            string  `json:"kind"`
	Namespace       string  `json:"namespace"`
	Name            string  `json:"name"`
	ResourceVersion string  `json:"resourceVersion"`
}

// output serialises answers: background goroutines never write to standard output.
type output struct {
	lock    sync.Mutex
	encoder *json.Encoder
}

func (o *output) answer(id int, fields map[string]any, err error) {
	o.lock.Lock()
	defer o.lock.Unlock()

	if fields == nil {
		fields = map[string]any{}
	}
	fields["id"] = id
	fields["ok"] = err == nil
	if err != nil {
		fields["error"] = err.Error()
	}
	if encodeErr := o.encoder.Encode(fields); encodeErr != nil {
		fmt.Fprintln(os.Stderr, "refcache: writing an answer:", encodeErr)
		os.Exit(1)
	}
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "admin kubeconfig of the control plane")
	mode := flag.String("mode", "perObject", "perObject (the kubelet's managers) or informer")
	qps := flag.Float64("qps", 1000, "client-side rate limit (client-go defaults to 5)")
	burst := flag.Int("burst", 2000, "client-side burst (client-go defaults to 10)")
	protobuf := flag.Bool("protobuf", true, "talk protobuf to the API server, as a kubelet does")
	flag.Parse()

	if *mode != modePerObject && *mode != modeInformer {
		fmt.Fprintf(os.Stderr, "refcache: -mode must be %s or %s\n", modePerObject, modeInformer)
		os.Exit(2)
	}

	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refcache: loading the kubeconfig:", err)
		os.Exit(2)
	}
	config.QPS = float32(*qps)
	config.Burst = *burst
	config.UserAgent = "refcache"
	if *protobuf {
		config.ContentType = "application/vnd.kubernetes.protobuf"
		config.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintln(os.Stderr, "refcache: building the client:", err)
		os.Exit(2)
	}

	stop := make(chan struct{})
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-signals
		os.Exit(0)
	}()

	r := newRunner(client, *mode, stop)
	r.start()
	serve(r, &output{encoder: json.NewEncoder(os.Stdout)})
	close(stop)
}

// serve answers commands until "stop" or the end of standard input.
func serve(r *runner, out *output) {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<16), 1<<20)

	for in.Scan() {
		var cmd command
		if err := json.Unmarshal(in.Bytes(), &cmd); err != nil {
			out.answer(0, nil, fmt.Errorf("malformed command: %w", err))
			continue
		}
		if cmd.Op == "stop" {
			out.answer(cmd.ID, nil, nil)
			return
		}
		fields, err := r.handle(cmd)
		out.answer(cmd.ID, fields, err)
	}
}

// handle runs one command and returns the fields of its answer.
func (r *runner) handle(cmd command) (map[string]any, error) {
	timeout := time.Duration(cmd.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = time.Minute
	}

	switch cmd.Op {
	case "waitPods":
		return r.waitPods(timeout)
	case "open":
		return r.open(timeout)
	case "memory":
		return memory(), nil
	case "track":
		return nil, r.tracker.track(cmd.Kind, cmd.Namespace, cmd.Name, cmd.ResourceVersion)
	case "tracked":
		return r.tracker.results(timeout), nil
	case "state":
		return r.state()
	default:
		return nil, fmt.Errorf("unknown op %q", cmd.Op)
	}
}

// heapBytes is the live heap after two full collections.
func heapBytes() uint64 {
	return memoryStats().HeapAlloc
}

// memory is the answer to "memory": the live heap, and what the runtime holds for the heap
// (in-use spans, fragmentation included) and for goroutine stacks.
func memory() map[string]any {
	stats := memoryStats()
	return map[string]any{
		"heapBytes":     stats.HeapAlloc,
		"heapHeldBytes": stats.HeapInuse + stats.StackInuse,
		"stackBytes":    stats.StackInuse,
	}
}

func memoryStats() runtime.MemStats {
	runtime.GC()
	runtime.GC()
	var stats runtime.MemStats
	runtime.ReadMemStats(&stats)
	return stats
}

// nowMs is the wall clock in milliseconds since the epoch, with sub-millisecond precision, so
// that it compares with the orchestrator's `performance.timeOrigin + performance.now()`.
func nowMs() float64 {
	return float64(time.Now().UnixNano()) / 1e6
}
