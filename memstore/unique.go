package memstore

import (
	"fmt"
	"reflect"

	"github.com/ticketkit/ticketkit"
)

// checkUnique makes sure each of T's unique fields exists and has a
// comparable type, so that its values can be an index's keys.
func checkUnique(t reflect.Type, fields []string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if len(fields) > 0 && t.Kind() != reflect.Struct {
		return fmt.Errorf("memstore: unique fields of %v, which is not a struct", t)
	}
	for _, f := range fields {
		v, ok := field(reflect.New(t).Elem(), f)
		if !ok {
			return fmt.Errorf("memstore: %v has no field %q to be unique", t, f)
		}
		if !v.Type().Comparable() {
			return fmt.Errorf("memstore: unique field %q of %v is not comparable", f, t)
		}
	}
	return nil
}

// uniqueValue is doc's value of field, as an index key: nil when doc
// has no such field (a nil pointer, or a document of another type that a
// Collection of the same name on the DB wrote), as MongoDB indexes a
// missing field as null.
func uniqueValue(doc any, name string) any {
	v := reflect.ValueOf(doc)
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	f, ok := field(v, name)
	if !ok || !f.Type().Comparable() {
		return nil
	}
	return f.Interface()
}

// index moves document id from old (nil for an insert) to v in the unique
// indexes of fields, or returns ECONFLICT, changing nothing, if another
// document holds one of v's values. The DB's lock is held.
func (c *coll) index(fields []string, id string, old, v any) error {
	if len(fields) == 0 {
		return nil
	}
	if c.uniq == nil {
		c.uniq = make(map[string]map[any]string)
	}
	for _, f := range fields {
		ix, ok := c.uniq[f]
		if !ok {
			ix = make(map[any]string, len(c.docs))
			for did, d := range c.docs {
				ix[uniqueValue(d.value, f)] = did
			}
			c.uniq[f] = ix
		}
		if holder, taken := ix[uniqueValue(v, f)]; taken && holder != id {
			return ticketkit.Errorf(ticketkit.ECONFLICT, "Another document has this %s", f)
		}
	}
	for _, f := range fields {
		ix := c.uniq[f]
		if old != nil {
			delete(ix, uniqueValue(old, f))
		}
		ix[uniqueValue(v, f)] = id
	}
	return nil
}
