package session

// MaxIDLen is the bound on a token's id, for the tests.
const MaxIDLen = maxIDLen
