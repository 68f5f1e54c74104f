// Command podrefs prints the kubelet's own answer to "which Secrets and ConfigMaps does this
// Pod reference", using the visitor functions of k8s.io/kubernetes/pkg/api/v1/pod. It reads
// one Pod per line of standard input (JSON) and writes one JSON line per Pod:
//
//	{"secrets":["a","b"],"configMaps":["c"]}
//
// Names appear in the order the visitors report them, duplicates included; a line that is not
// a Pod yields {"error":"..."} so that the caller can tell which input was bad.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"

	v1 "k8s.io/api/core/v1"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
)

type answer struct {
	Secrets    []string `json:"secrets"`
	ConfigMaps []string `json:"configMaps"`
	Error      string   `json:"error,omitempty"`
}

func visit(line []byte) answer {
	var pod v1.Pod
	if err := json.Unmarshal(line, &pod); err != nil {
		return answer{Error: err.Error()}
	}

	out := answer{Secrets: []string{}, ConfigMaps: []string{}}
	podutil.VisitPodSecretNames(&pod, func(name string) bool {
		out.Secrets = append(out.Secrets, name)
		return true
	})
	podutil.VisitPodConfigmapNames(&pod, func(name string) bool {
		out.ConfigMaps = append(out.ConfigMaps, name)
		return true
	})
	return out
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)

	for in.Scan() {
		if len(in.Bytes()) == 0 {
			continue
		}
		if err := encoder.Encode(visit(in.Bytes())); err != nil {
			fmt.Fprintln(os.Stderr, "podrefs:", err)
			os.Exit(1)
		}
	}
	if err := in.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "podrefs:", err)
		os.Exit(1)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "podrefs:", err)
		os.Exit(1)
	}
}
