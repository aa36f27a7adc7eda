package session

// IDLen is the length of a user id, for the tests.
const IDLen = idLen
