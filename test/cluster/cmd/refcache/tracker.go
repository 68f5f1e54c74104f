package main

import (
	"sync"
	"time"
)

const (
	// How often a tracked object is read while its change is awaited.
	trackPollInterval = time.Millisecond
	// A change not served after this long is given up and counted as pending.
	trackGiveUp = 30 * time.Second
)

// sighting is when the cache first served a new resourceVersion of a tracked object.
type sighting struct {
	Kind            string  `json:"kind"`
	Namespace       string  `json:"namespace"`
	Name            string  `json:"name"`
	ResourceVersion string  `json:"resourceVersion"`
	SeenAtMs        float64 `json:"seenAtMs"`
}

// tracker reads objects whose update is on its way until the cache serves a resourceVersion
// other than the one they had, and records when.
type tracker struct {
	get func(kind, namespace, name string) (string, error)

	lock    sync.Mutex
	running sync.WaitGroup
	seen    []sighting
	pending int
}

func newTracker(get func(kind, namespace, name string) (string, error)) *tracker {
	return &tracker{get: get}
}

// track starts reading the object every millisecond in the background and returns at once.
func (t *tracker) track(kind, namespace, name, resourceVersion string) error {
	t.lock.Lock()
	t.pending++
	t.lock.Unlock()

	t.running.Add(1)
	go func() {
		defer t.running.Done()
		t.poll(kind, namespace, name, resourceVersion)
	}()
	return nil
}

func (t *tracker) poll(kind, namespace, name, old string) {
	deadline := time.Now().Add(trackGiveUp)
	for time.Now().Before(deadline) {
		rv, err := t.get(kind, namespace, name)
		if err == nil && rv != old {
			at := nowMs()
			t.lock.Lock()
			t.seen = append(t.seen, sighting{kind, namespace, name, rv, at})
			t.pending--
			t.lock.Unlock()
			return
		}
		time.Sleep(trackPollInterval)
	}
}

// results waits up to timeout for every tracked change, then returns and forgets what was
// seen; changes still awaited are counted as pending.
func (t *tracker) results(timeout time.Duration) map[string]any {
	done := make(chan struct{})
	go func() {
		t.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
	}

	t.lock.Lock()
	defer t.lock.Unlock()
	seen := t.seen
	t.seen = nil
	return map[string]any{"seen": seen, "pending": t.pending}
}
