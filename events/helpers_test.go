package events_test

// sampleID is the aggregate of the tests' events.
const sampleID = "3eb8e907a00cf854c97a276b"
