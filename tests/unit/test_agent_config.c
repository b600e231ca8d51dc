// SPDX-License-Identifier: Apache-2.0
/* kvmlet-agent's configuration file: the format, every key, and bad input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent/config.h"

static int parse(struct agent_config *c, const char *text, struct err *err)
{
	memset(err, 0, sizeof(*err));
	agent_config_defaults(c);
	return agent_config_parse(c, text, strlen(text), "agent.conf", err);
}

static void test_defaults(void **state)
{
	struct agent_config c;
	struct err err;

	assert_int_equal(parse(&c, "", &err), 0);
	assert_string_equal(c.listen, "unix:///run/kvmlet/kvmlet.sock");
	assert_string_equal(c.root, "/var/lib/kvmlet");
	assert_string_equal(c.metrics_listen, "/run/kvmlet/metrics.sock");
	assert_string_equal(c.cni_conf_dir, "/etc/cni/net.d");
	assert_int_equal(c.log_level, LOG_INFO);
	assert_int_equal(c.workers, 4);
	assert_int_equal(c.queue, 64);
	assert_int_equal(c.shutdown_grace_ms, 10000);
}

static void test_every_key(void **state)
{
	struct agent_config c;
	struct err err;
	const char *text = "# kvmlet-agent\n"
			   "; also a comment\n"
			   "\n"
			   "[agent]\n"
			   "  listen = unix:/tmp/k.sock  \r\n"
			   "root=/srv/kvmlet\n"
			   "metrics_listen = \"\"\n"
			   "log_level = debug\n"
			   "[ cri ]\n"
			   "workers = 8\n"
			   "queue = 1\n"
			   "shutdown_grace_ms = 0\n"
			   "[cni]\n"
			   "conf_dir = \"/etc/cni dir \"";

	assert_int_equal(parse(&c, text, &err), 0);
	assert_string_equal(c.listen, "unix:/tmp/k.sock");
	assert_string_equal(c.root, "/srv/kvmlet");
	assert_string_equal(c.metrics_listen, "");
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(c.workers, 8);
	assert_int_equal(c.queue, 1);
	assert_int_equal(c.shutdown_grace_ms, 0);
	/* A quoted value keeps its spaces. */
	assert_string_equal(c.cni_conf_dir, "/etc/cni dir ");
}

static void expect_error(const char *text, const char *msg)
{
	struct agent_config c;
	struct err err;

	assert_int_equal(parse(&c, text, &err), -EINVAL);
	if (!strstr(err.msg, msg))
		fail_msg("'%s': error '%s' lacks '%s'", text, err.msg, msg);
}

static void test_bad_input(void **state)
{
	expect_error("listen = /x\n", "agent.conf:1: key 'listen' outside a section");
	expect_error("[agent]\nlisten /x\n", "agent.conf:2: expected 'key = value'");
	expect_error("[agent\n", "must end with ']'");
	expect_error("[nope]\n", "unknown section [nope]");
	expect_error("[]\n", "unknown section []");
	expect_error("[agent]\nbogus = 1\n", "unknown key 'bogus' in [agent]");
	expect_error("[agent]\nworkers = 1\n", "unknown key 'workers' in [agent]");
	expect_error("[agent]\nLISTEN = /x\n", "unknown key 'LISTEN'");
	expect_error("[agent]\nroot = /a\nroot = /b\n", "agent.conf:3: agent.root is set twice");
	expect_error("[agent]\nroot = relative\n",
		     "agent.root: 'relative' is not an absolute path");
	expect_error("[agent]\nroot =\n", "not an absolute path");
	expect_error("[agent]\nlisten = tcp://1.2.3.4:5\n", "agent.listen");
	expect_error("[agent]\nlisten = unix://relative\n", "agent.listen");
	expect_error("[agent]\nlog_level = loud\n", "agent.log_level: 'loud'");
	expect_error("[cri]\nworkers = 0\n", "cri.workers: '0' is not a number from 1 to 256");
	expect_error("[cri]\nworkers = 257\n", "cri.workers");
	expect_error("[cri]\nworkers = -1\n", "cri.workers");
	expect_error("[cri]\nworkers = 4x\n", "cri.workers");
	expect_error("[cri]\nqueue = 99999999999999999999\n", "cri.queue");
	expect_error("[cni]\nconf_dir = \" /x\"\n", "' /x' is not an absolute path");
	expect_error("[cni]\nconf_dir = \"/x\n", "unterminated quote");
	expect_error("[cni]\nconf_dir = \"\n", "unterminated quote");
}

static void test_nul_and_long(void **state)
{
	struct agent_config c;
	struct err err = { 0 };
	size_t n = PATH_MAX + 64;
	char *text = malloc(n + 1);

	agent_config_defaults(&c);
	assert_int_equal(agent_config_parse(&c, "[agent]\0x", 9, "f", &err), -EINVAL);
	assert_non_null(strstr(err.msg, "NUL"));

	assert_non_null(text);
	strcpy(text, "[agent]\nroot = /");
	memset(text + strlen(text), 'a', n - strlen(text));
	text[n] = '\0';
	memset(&err, 0, sizeof(err));
	assert_int_equal(agent_config_parse(&c, text, n, "f", &err), -ENAMETOOLONG);
	assert_string_equal(c.root, "/var/lib/kvmlet");
	free(text);
}

static void test_set_and_json(void **state)
{
	struct agent_config c;
	struct err err = { 0 };
	char *json;

	agent_config_defaults(&c);
	assert_int_equal(agent_config_set(&c, "agent", "root", "/r", &err), 0);
	assert_int_equal(agent_config_set(&c, "cri", "workers", "2", &err), 0);
	assert_int_equal(agent_config_set(&c, "cri", "nope", "2", &err), -EINVAL);
	assert_string_equal(err.msg, "unknown key cri.nope");
	json = agent_config_json(&c);
	assert_non_null(json);
	assert_string_equal(json,
			    "{\"listen\":\"unix:///run/kvmlet/kvmlet.sock\",\"root\":\"/r\","
			    "\"metricsListen\":\"/run/kvmlet/metrics.sock\","
			    "\"logLevel\":\"info\",\"workers\":2,\"queue\":64,"
			    "\"shutdownGraceMs\":10000,\"cniConfDir\":\"/etc/cni/net.d\","
			    "\"cniBinDirs\":\"/opt/cni/bin:/usr/lib/cni\",\"cniPluginTimeoutMs\":60000,"
			    "\"imageRoot\":\"\",\"insecureRegistries\":\"\","
			    "\"proxyUpstream\":\"\",\"proxyVmImagePrefixes\":\"\","
			    "\"proxyTimeoutMs\":300000,"
			    "\"vmJailBase\":\"\",\"vmVmm\":\"\",\"vmJailer\":\"\",\"vmShim\":\"\","
			    "\"vmUidBase\":200000,\"vmUidCount\":1000,"
			    "\"vmDefaultMemoryMib\":256,\"vmOverheadMib\":64}");
	free(json);
}

static void test_images(void **state)
{
	static const char text[] =
		"[images]\nroot = /srv/images\n"
		"insecure_registries = 127.0.0.1:5000, reg.local:80,[::1]:5000\n";
	struct agent_config c;
	struct err err = { 0 };
	const char *hosts[4];
	char buf[256];

	agent_config_defaults(&c);
	assert_string_equal(c.image_root, "");
	assert_int_equal(agent_config_insecure(&c, buf, sizeof(buf), hosts, 4), 0);
	assert_null(hosts[0]);
	assert_int_equal(agent_config_parse(&c, text, sizeof(text) - 1, "t", &err), 0);
	assert_string_equal(c.image_root, "/srv/images");
	assert_int_equal(agent_config_insecure(&c, buf, sizeof(buf), hosts, 4), 3);
	assert_string_equal(hosts[0], "127.0.0.1:5000");
	assert_string_equal(hosts[1], "reg.local:80");
	assert_string_equal(hosts[2], "[::1]:5000");
	assert_null(hosts[3]);
	/* At most max - 1 entries, NULL-terminated. */
	assert_int_equal(agent_config_insecure(&c, buf, sizeof(buf), hosts, 2), 1);
	assert_null(hosts[1]);
	assert_int_equal(agent_config_set(&c, "images", "insecure_registries", "a/b", &err),
			 -EINVAL);
	assert_int_equal(agent_config_set(&c, "images", "root", "relative", &err), -EINVAL);
}

static void test_proxy(void **state)
{
	static const char text[] = "[proxy]\nupstream = unix:///run/containerd/containerd.sock\n"
				   "vm_image_prefixes = registry.local/vm/, kvmlet.io/\n"
				   "timeout_ms = 5000\n";
	struct agent_config c;
	struct err err = { 0 };
	const char *pre[4];
	char buf[256];

	assert_int_equal(parse(&c, "", &err), 0);
	assert_string_equal(c.proxy_upstream, ""); /* no proxy: every pod is a VM pod */
	assert_int_equal(c.proxy_timeout_ms, 300000);
	assert_int_equal(agent_config_vm_image_prefixes(&c, buf, sizeof(buf), pre, 4), 0);
	assert_int_equal(parse(&c, text, &err), 0);
	assert_string_equal(c.proxy_upstream, "unix:///run/containerd/containerd.sock");
	assert_int_equal(c.proxy_timeout_ms, 5000);
	assert_int_equal(agent_config_vm_image_prefixes(&c, buf, sizeof(buf), pre, 4), 2);
	assert_string_equal(pre[0], "registry.local/vm/");
	assert_string_equal(pre[1], "kvmlet.io/");
	assert_null(pre[2]);
	assert_int_equal(agent_config_set(&c, "proxy", "upstream", "", &err), 0);
	assert_int_equal(agent_config_set(&c, "proxy", "upstream", "tcp://x:1", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "proxy", "timeout_ms", "0", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "proxy", "vm_image_prefixes", "a\tb", &err), -EINVAL);
}

static void test_vm(void **state)
{
	static const char text[] = "[vm]\nuid_base = 300000\nuid_count = 50\n"
				   "default_memory_mib = 128\noverhead_mib = 8\n"
				   "vmm = /opt/kvmlet/kvmlet-vmm\n";
	char dir[] = "/tmp/kvmlet-config-vm-XXXXXX", self[64], prog[96];
	struct agent_config c;
	struct err err = { 0 };

	agent_config_defaults(&c);
	assert_int_equal(c.vm_default_memory_mib, 256);
	assert_int_equal(agent_config_parse(&c, text, sizeof(text) - 1, "t", &err), 0);
	assert_int_equal(c.vm_uid_base, 300000);
	assert_int_equal(c.vm_uid_count, 50);
	assert_int_equal(c.vm_default_memory_mib, 128);
	assert_int_equal(c.vm_overhead_mib, 8);
	assert_string_equal(c.vm_vmm_path, "/opt/kvmlet/kvmlet-vmm");
	assert_int_equal(agent_config_set(&c, "vm", "uid_count", "0", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "vm", "default_memory_mib", "2", &err), -EINVAL);
	assert_int_equal(agent_config_set(&c, "vm", "shim", "shim", &err), -EINVAL);
	/* The programs left "" are found next to the agent's binary. */
	assert_non_null(mkdtemp(dir));
	snprintf(self, sizeof(self), "%s/kvmlet-agent", dir);
	for (int i = 0; i < 2; i++) {
		static const char *const names[] = { "kvmlet-jailer", "kvmlet-shim" };

		snprintf(prog, sizeof(prog), "%s/%s", dir, names[i]);
		fclose(fopen(prog, "w"));
		chmod(prog, 0755);
	}
	memset(&err, 0, sizeof(err));
	assert_int_equal(agent_config_vm_paths(&c, self, &err), 0);
	assert_string_equal(c.vm_vmm_path, "/opt/kvmlet/kvmlet-vmm"); /* given: kept */
	snprintf(prog, sizeof(prog), "%s/kvmlet-shim", dir);
	assert_string_equal(c.vm_shim_path, prog);
	assert_string_equal(c.vm_jail_base, "/var/lib/kvmlet/jail");
	c.vm_vmm_path[0] = '\0';
	assert_int_equal(agent_config_vm_paths(&c, self, &err) == 0,
			 access("/usr/libexec/kvmlet/kvmlet-vmm", X_OK) == 0 ||
				 access("/usr/bin/kvmlet-vmm", X_OK) == 0);
	for (int i = 0; i < 2; i++) {
		static const char *const names[] = { "kvmlet-jailer", "kvmlet-shim" };

		snprintf(prog, sizeof(prog), "%s/%s", dir, names[i]);
		unlink(prog);
	}
	rmdir(dir);
}

static void test_load(void **state)
{
	char path[] = "/tmp/kvmlet-agent-conf-XXXXXX";
	struct agent_config c;
	struct err err = { 0 };
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	assert_non_null(f = fdopen(fd, "w"));
	fputs("[agent]\nroot = /loaded\n[cri]\nqueue = x\n", f);
	fclose(f);
	agent_config_defaults(&c);
	assert_int_equal(agent_config_load(&c, path, &err), -EINVAL);
	assert_non_null(strstr(err.msg, ":4: cri.queue"));
	assert_non_null(strstr(err.msg, path));
	unlink(path);
	memset(&err, 0, sizeof(err));
	assert_int_equal(agent_config_load(&c, path, &err), -ENOENT);
	assert_non_null(strstr(err.msg, path));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),     cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_bad_input),    cmocka_unit_test(test_nul_and_long),
		cmocka_unit_test(test_set_and_json), cmocka_unit_test(test_load),
		cmocka_unit_test(test_images),	     cmocka_unit_test(test_vm),
		cmocka_unit_test(test_proxy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
