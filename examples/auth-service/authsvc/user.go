package authsvc

// User is a user as the Node auth service's Mongoose model stores it:
// {_id, email, password}, the password as password.Hash makes it. The
// Node service's documents also hold Mongoose's __v, which is ignored;
// ours hold the store's version, which Mongoose ignores.
type User struct {
	Email    string `bson:"email"`
	Password string `bson:"password"`
}

// UniqueFields implements store.Unique: one user per email, enforced by
// a unique index, so that simultaneous signups of one email can't both
// succeed. As in the Node service, an email is compared exactly as
// given: "A@x.com" and "a@x.com" are two users.
func (User) UniqueFields() []string { return []string{"email"} }

// userJSON is a user as the Node service answers it: Mongoose's toJSON
// with _id renamed id and the password and __v deleted, in that order.
type userJSON struct {
	Email string `json:"email"`
	ID    string `json:"id"`
}

// currentJSON is the token's payload, as the Node currentUser middleware
// puts it in req.currentUser: id, email, iat, and exp when there is one.
type currentJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	IAT   int64  `json:"iat"`
	EXP   int64  `json:"exp,omitempty"`
}
