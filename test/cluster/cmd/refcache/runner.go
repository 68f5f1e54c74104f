package main

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	podutil "k8s.io/kubernetes/pkg/api/v1/pod"
	"k8s.io/kubernetes/pkg/kubelet/configmap"
	"k8s.io/kubernetes/pkg/kubelet/secret"
)

const (
	modePerObject = "perObject"
	modeInformer  = "informer"

	kindSecret    = "secret"
	kindConfigMap = "configmap"

	// The kubelet's default sync frequency; its managers stop idle watches after five of them.
	resyncInterval = time.Minute

	mirrorAnnotation = "kubernetes.io/config.mirror"
)

// references are the names one Pod references, per kind.
type references struct {
	secrets    map[string]bool
	configMaps map[string]bool
}

// runner holds the caches under test and the Pod informer that feeds them.
type runner struct {
	client kubernetes.Interface
	mode   string
	stop   chan struct{}

	pods    cache.SharedIndexInformer
	tracker *tracker

	// Set in perObject mode: the kubelet's managers.
	secrets    secret.Manager
	configMaps configmap.Manager

	// Set in informer mode, at open: one cluster-wide informer per kind.
	secretInformer    cache.SharedIndexInformer
	configMapInformer cache.SharedIndexInformer

	// lock guards opened and registered. Until opened, Pod events only reach the informer's
	// store, so that the heap can be measured with the Pods known and the caches still empty.
	lock       sync.Mutex
	opened     bool
	registered map[types.UID]registration
	startedAt  time.Time
}

// registration is what the runner fed to the managers for one Pod.
type registration struct {
	namespace string
	refs      references
}

func newRunner(client kubernetes.Interface, mode string, stop chan struct{}) *runner {
	factory := informers.NewSharedInformerFactory(client, 0)
	r := &runner{
		client:     client,
		mode:       mode,
		stop:       stop,
		pods:       factory.Core().V1().Pods().Informer(),
		registered: map[types.UID]registration{},
		startedAt:  time.Now(),
	}
	if mode == modePerObject {
		r.secrets = secret.NewWatchingSecretManager(client, resyncInterval)
		r.configMaps = configmap.NewWatchingConfigMapManager(client, resyncInterval)
	}
	r.tracker = newTracker(r.resourceVersion)
	return r
}

// start runs the Pod informer. Its events are forwarded once the runner is opened.
func (r *runner) start() {
	_, err := r.pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.onPod(obj) },
		UpdateFunc: func(_, obj any) { r.onPod(obj) },
		DeleteFunc: func(obj any) { r.onPodDeleted(obj) },
	})
	if err != nil {
		panic(fmt.Sprintf("adding the Pod handler: %v", err))
	}
	go r.pods.Run(r.stop)
}

// waitPods waits for the Pod informer's first list, then measures the heap.
func (r *runner) waitPods(timeout time.Duration) (map[string]any, error) {
	if !waitFor(timeout, r.pods.HasSynced) {
		return nil, errors.New("the Pod informer did not sync in time")
	}
	return map[string]any{
		"pods":      len(r.pods.GetStore().List()),
		"podSyncMs": msSince(r.startedAt),
		"heapBytes": heapBytes(),
	}, nil
}

// open feeds every known Pod to the caches, forwards later events, and polls a get of every
// referenced object until each one is served or known not to exist.
func (r *runner) open(timeout time.Duration) (map[string]any, error) {
	openedAt := time.Now()
	r.lock.Lock()
	r.opened = true
	for _, obj := range r.pods.GetStore().List() {
		r.onPodLocked(obj.(*v1.Pod))
	}
	r.lock.Unlock()

	if r.mode == modeInformer {
		if err := r.startInformers(timeout); err != nil {
			return nil, err
		}
	}

	result := r.syncAll(openedAt.Add(timeout))
	result["syncedMs"] = msSince(openedAt)
	return result, nil
}

func (r *runner) startInformers(timeout time.Duration) error {
	factory := informers.NewSharedInformerFactory(r.client, 0)
	r.secretInformer = factory.Core().V1().Secrets().Informer()
	r.configMapInformer = factory.Core().V1().ConfigMaps().Informer()
	factory.Start(r.stop)
	if !waitFor(timeout, r.secretInformer.HasSynced, r.configMapInformer.HasSynced) {
		return errors.New("the Secret and ConfigMap informers did not sync in time")
	}
	return nil
}

func (r *runner) onPod(obj any) {
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	r.lock.Lock()
	defer r.lock.Unlock()
	if r.opened {
		r.onPodLocked(pod)
	}
}

func (r *runner) onPodDeleted(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*v1.Pod)
	if !ok {
		return
	}
	r.lock.Lock()
	defer r.lock.Unlock()
	if r.opened {
		r.unregisterLocked(pod)
	}
}

// onPodLocked registers a running Pod and unregisters a terminal one, as the kubelet's Pod
// manager does, and reads each newly referenced object once, as a container start does.
func (r *runner) onPodLocked(pod *v1.Pod) {
	if _, mirror := pod.Annotations[mirrorAnnotation]; mirror {
		return
	}
	if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		r.unregisterLocked(pod)
		return
	}

	refs := referencesOf(pod)
	previous, known := r.registered[pod.UID]
	r.registered[pod.UID] = registration{namespace: pod.Namespace, refs: refs}
	if r.mode != modePerObject {
		return
	}

	r.secrets.RegisterPod(pod)
	r.configMaps.RegisterPod(pod)
	for name := range refs.secrets {
		if !known || !previous.refs.secrets[name] {
			go func() { _, _ = r.secrets.GetSecret(pod.Namespace, name) }()
		}
	}
	for name := range refs.configMaps {
		if !known || !previous.refs.configMaps[name] {
			go func() { _, _ = r.configMaps.GetConfigMap(pod.Namespace, name) }()
		}
	}
}

func (r *runner) unregisterLocked(pod *v1.Pod) {
	delete(r.registered, pod.UID)
	if r.mode == modePerObject {
		r.secrets.UnregisterPod(pod)
		r.configMaps.UnregisterPod(pod)
	}
}

// referencesOf uses the kubelet's own visitors, as its managers do.
func referencesOf(pod *v1.Pod) references {
	refs := references{secrets: map[string]bool{}, configMaps: map[string]bool{}}
	podutil.VisitPodSecretNames(pod, func(name string) bool {
		refs.secrets[name] = true
		return true
	})
	podutil.VisitPodConfigmapNames(pod, func(name string) bool {
		refs.configMaps[name] = true
		return true
	})
	return refs
}

// objectRef names one referenced object.
type objectRef struct {
	kind      string
	namespace string
	name      string
}

// referenced is every object the registered Pods reference, sorted.
func (r *runner) referenced() []objectRef {
	r.lock.Lock()
	defer r.lock.Unlock()

	seen := map[objectRef]bool{}
	for _, reg := range r.registered {
		for name := range reg.refs.secrets {
			seen[objectRef{kindSecret, reg.namespace, name}] = true
		}
		for name := range reg.refs.configMaps {
			seen[objectRef{kindConfigMap, reg.namespace, name}] = true
		}
	}
	out := make([]objectRef, 0, len(seen))
	for ref := range seen {
		out = append(out, ref)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		return a.name < b.name
	})
	return out
}

// syncAll gets every referenced object in parallel, in rounds, until each one was served or
// found missing, or the deadline passed. A get that timed out waiting for its watch is
// retried in the next round, as a kubelet retries a container start.
func (r *runner) syncAll(deadline time.Time) map[string]any {
	pending := r.referenced()
	items := map[string]int{kindSecret: 0, kindConfigMap: 0}
	for _, ref := range pending {
		items[ref.kind]++
	}

	found, notFound, rounds, failedGets := 0, 0, 0, 0
	for len(pending) > 0 && time.Now().Before(deadline) {
		rounds++
		outcomes := make([]error, len(pending))
		var group sync.WaitGroup
		for i, ref := range pending {
			group.Add(1)
			go func() {
				defer group.Done()
				_, outcomes[i] = r.resourceVersion(ref.kind, ref.namespace, ref.name)
			}()
		}
		group.Wait()

		var retry []objectRef
		for i, err := range outcomes {
			switch {
			case err == nil:
				found++
			case apierrors.IsNotFound(err):
				notFound++
			default:
				failedGets++
				retry = append(retry, pending[i])
			}
		}
		pending = retry
	}

	return map[string]any{
		"items":      items,
		"found":      found,
		"notFound":   notFound,
		"unsynced":   len(pending),
		"rounds":     rounds,
		"failedGets": failedGets,
	}
}

// resourceVersion gets one object through the cache under test.
func (r *runner) resourceVersion(kind, namespace, name string) (string, error) {
	if r.mode == modeInformer {
		return r.informerResourceVersion(kind, namespace, name)
	}
	switch kind {
	case kindSecret:
		object, err := r.secrets.GetSecret(namespace, name)
		if err != nil {
			return "", err
		}
		return object.ResourceVersion, nil
	case kindConfigMap:
		object, err := r.configMaps.GetConfigMap(namespace, name)
		if err != nil {
			return "", err
		}
		return object.ResourceVersion, nil
	default:
		return "", fmt.Errorf("unknown kind %q", kind)
	}
}

func (r *runner) informerResourceVersion(kind, namespace, name string) (string, error) {
	informer := r.secretInformer
	resource := v1.Resource("secrets")
	if kind == kindConfigMap {
		informer = r.configMapInformer
		resource = v1.Resource("configmaps")
	}
	if informer == nil {
		return "", errors.New("the informers have not started")
	}
	obj, exists, err := informer.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil {
		return "", err
	}
	if !exists {
		return "", apierrors.NewNotFound(resource, name)
	}
	switch object := obj.(type) {
	case *v1.Secret:
		return object.ResourceVersion, nil
	case *v1.ConfigMap:
		return object.ResourceVersion, nil
	default:
		return "", fmt.Errorf("unexpected object %T", obj)
	}
}

// waitFor polls the conditions every 10 ms until all hold or the timeout passes.
func waitFor(timeout time.Duration, conditions ...func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		all := true
		for _, condition := range conditions {
			all = all && condition()
		}
		if all {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func msSince(t time.Time) float64 {
	return float64(time.Since(t).Microseconds()) / 1000
}
