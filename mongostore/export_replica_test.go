package mongostore

// ReplicaWithoutDocLocks turns off r's in-process document locks, so that
// only the server's version guard keeps concurrent writers apart, as it
// does between processes.
func ReplicaWithoutDocLocks(r *Replica) *Replica {
	r.noDocLocks = true
	return r
}
