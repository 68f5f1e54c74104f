package main

import (
	"errors"
	"reflect"
	"sync"
	"unsafe"
)

// itemState is one item of a kubelet manager's cache, as the bench compares it with the truth.
type itemState struct {
	Kind      string         `json:"kind"`
	Namespace string         `json:"namespace"`
	Name      string         `json:"name"`
	Refs      map[string]int `json:"refs"`
	Running   bool           `json:"running"`
}

// state reports every item of both managers: references per Pod UID and whether its reflector
// runs. The managers expose none of this, so it is read by reflection from their unexported
// fields (pkg/kubelet/util/manager: cacheBasedManager.objectStore is an *objectCache whose
// items map holds *objectCacheItem with refMap and stopped), under the locks they use
// themselves. A benchmark-only look inside; an upstream rename makes it fail loudly.
func (r *runner) state() (map[string]any, error) {
	if r.mode != modePerObject {
		return nil, errors.New("state is only known in perObject mode")
	}
	secrets, err := managerItems(kindSecret, r.secrets)
	if err != nil {
		return nil, err
	}
	configMaps, err := managerItems(kindConfigMap, r.configMaps)
	if err != nil {
		return nil, err
	}
	return map[string]any{"items": append(secrets, configMaps...)}, nil
}

func managerItems(kind string, manager any) (items []itemState, err error) {
	defer func() {
		if recovered := recover(); recovered != nil {
			err = errors.New("the kubelet manager's layout changed; update inspect.go")
		}
	}()

	// secretManager / configMapManager{manager manager.Manager} -> *cacheBasedManager.
	based := reflect.ValueOf(manager).Elem().FieldByName("manager").Elem().Elem()
	// cacheBasedManager{objectStore Store} -> *objectCache.
	objectCache := based.FieldByName("objectStore").Elem().Elem()
	lock := (*sync.RWMutex)(unsafe.Pointer(objectCache.FieldByName("lock").UnsafeAddr()))

	lock.RLock()
	defer lock.RUnlock()
	entries := objectCache.FieldByName("items").MapRange()
	for entries.Next() {
		key := entries.Key()
		items = append(items, itemOf(kind, key, entries.Value().Elem()))
	}
	return items, nil
}

func itemOf(kind string, key reflect.Value, item reflect.Value) itemState {
	itemLock := (*sync.Mutex)(unsafe.Pointer(item.FieldByName("lock").UnsafeAddr()))
	itemLock.Lock()
	stopped := item.FieldByName("stopped").Bool()
	itemLock.Unlock()

	refs := map[string]int{}
	refMap := item.FieldByName("refMap").MapRange()
	for refMap.Next() {
		refs[refMap.Key().String()] = int(refMap.Value().Int())
	}
	return itemState{
		Kind:      kind,
		Namespace: key.FieldByName("namespace").String(),
		Name:      key.FieldByName("name").String(),
		Refs:      refs,
		Running:   !stopped,
	}
}
