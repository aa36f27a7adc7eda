package authsvc

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/ticketkit/ticketkit/httpapi"
	"github.com/ticketkit/ticketkit/service"
	"github.com/ticketkit/ticketkit/service/servicetest"
)

// The race the Node original loses: of 16 simultaneous signups of one
// email, on two instances of one database, exactly one is 201, and the
// others are "Email in use". In memory and on the real servers.
func TestConcurrentSignups(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testConcurrentSignups(t, servicetest.Memory(t)) })
	t.Run("servers", func(t *testing.T) { testConcurrentSignups(t, servicetest.Servers(t, service.TransportStan)) })
}

func testConcurrentSignups(t *testing.T, c *servicetest.Cluster) {
	// 16 scrypts on two instances of a shared 2-core machine under -race
	// take longer than the default request deadline; the test is of the
	// outcome, not of the hashing's speed.
	slow := servicetest.Configure(func(cfg *service.Config) { cfg.RequestTimeout = 2 * time.Minute })
	ins := []*servicetest.Instance{startWith(t, c, slow), startWith(t, c, slow)}
	email := "race-" + time.Now().Format("150405.000000000") + "@test.com"
	const n = 16
	answers := make([]servicetest.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { answers[i] = post(ins[i%2], "/api/users/signup", credentialsBody(email, "password")) })
	}
	wg.Wait()
	created := 0
	for _, r := range answers {
		switch {
		case r.Status == http.StatusCreated:
			created++
		case r.Status != http.StatusBadRequest || !slices.Equal(r.Errors(t), []httpapi.Problem{{Message: msgEmailInUse}}):
			t.Errorf("a losing signup: %d %s, want 400 Email in use", r.Status, r.Body)
		}
	}
	if created != 1 {
		t.Errorf("%d of %d simultaneous signups of one email were created, want 1", created, n)
	}
	if r := post(ins[1], "/api/users/signin", credentialsBody(email, "password")); r.Status != http.StatusOK {
		t.Errorf("signin: %d %s", r.Status, r.Body)
	}
	// As the Node service, auth publishes nothing.
	for _, in := range ins {
		ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
		err := in.Relay().Flush(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	if m := c.Messages(); len(m) != 0 {
		t.Errorf("the service published %d messages, want none: %+v", len(m), m)
	}
}

// A user the Node auth service signed up, as Mongoose stored it (the
// hash made by Node's crypto.scrypt, password/testdata), signs in on
// the Go one; and a user the Go one signed up is stored in the same
// shape.
func TestNodeUserSignsIn(t *testing.T) {
	c := servicetest.Servers(t, service.TransportStan)
	in := startOn(t, c)
	users := in.Backends().Mongo.DB.Collection(Collection)
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Wait)
	defer cancel()
	id := bson.NewObjectID()
	email := "node-" + id.Hex() + "@test.com"
	const nodeHash = "139e9b9c980f9404d0f542e67ee17825add9489b84d4afbdd77f8f91d73453a2ee47a5eb875b3e005bc235990ec79322f5b8a71c9b00315062aad702f590dc26.4969b76d5c2e0be1"
	if _, err := users.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "email", Value: email}, {Key: "password", Value: nodeHash}, {Key: "__v", Value: 0}}); err != nil {
		t.Fatal(err)
	}
	r := post(in, "/api/users/signin", credentialsBody(email, "password"))
	if r.Status != http.StatusOK || userOf(t, r) != (userJSON{Email: email, ID: id.Hex()}) {
		t.Fatalf("the Node user's signin: %d %s", r.Status, r.Body)
	}
	if r := post(in, "/api/users/signup", credentialsBody(email, "password")); r.Status != http.StatusBadRequest {
		t.Errorf("signup of the Node user's email: %d %s", r.Status, r.Body)
	}

	goEmail := "go-" + id.Hex() + "@test.com"
	u := userOf(t, signup(t, in, goEmail, "password"))
	var stored bson.M
	oid, _ := bson.ObjectIDFromHex(u.ID)
	if err := users.FindOne(ctx, bson.D{{Key: "_id", Value: oid}}).Decode(&stored); err != nil {
		t.Fatal(err)
	}
	pw, _ := stored["password"].(string)
	if stored["email"] != goEmail || len(pw) != 128+1+16 || pw[128] != '.' {
		t.Errorf("stored %v, want Node's shape: email, password hex(scrypt).salt", stored)
	}
}
