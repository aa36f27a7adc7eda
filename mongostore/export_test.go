package mongostore

// WithoutDocLocks turns off s's in-process document locks, so that only
// the server's compare-and-set keeps concurrent writers apart, as it does
// between processes.
func WithoutDocLocks(s *Store) *Store {
	s.noDocLocks = true
	return s
}

// SetMaxMarkBatch makes MarkPublished mark at most n tickets per write
// until the returned function restores the default.
func SetMaxMarkBatch(n int) (restore func()) {
	old := maxMarkBatch
	maxMarkBatch = n
	return func() { maxMarkBatch = old }
}
