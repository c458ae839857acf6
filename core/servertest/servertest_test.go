package servertest_test

import (
	"net/http"
	"testing"

	"github.com/gatehouse-auth/gatehouse/core/config"
	"github.com/gatehouse-auth/gatehouse/core/servertest"
	"github.com/gatehouse-auth/gatehouse/core/testclient"
)

// TestStart: the server answers discovery with its issuer, edit reaches
// its configuration, and Stop may be called before the cleanup runs.
func TestStart(t *testing.T) {
	l := servertest.Start(t, func(cfg *config.Config) { cfg.Admin.Token = "servertest-admin" })
	if l.Cfg.Admin.Token != "servertest-admin" || l.Cfg.RateLimit.Enabled || l.Cfg.Storage.Backend != "memory" {
		t.Fatalf("config not adjusted: %+v", l.Cfg)
	}
	if l.Issuer != "http://"+l.Addr+l.Cfg.Server.BasePath {
		t.Fatalf("issuer %q on %s", l.Issuer, l.Addr)
	}
	status, doc, err := testclient.GetJSON(l.Issuer + "/.well-known/openid-configuration")
	if err != nil || status != http.StatusOK || doc["issuer"] != l.Issuer {
		t.Fatalf("discovery: %d %v %v", status, doc, err)
	}
	l.Stop()
	l.Stop()
	if _, _, err := testclient.GetJSON(l.Issuer + "/.well-known/openid-configuration"); err == nil {
		t.Fatal("server still answers after Stop")
	}
}
