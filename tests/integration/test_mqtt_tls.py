"""MQTT security against a real mosquitto: a TLS listener with a password file and client
certificates, all made here with openssl and mosquitto_passwd (never committed). The test's
publisher uses a second, plain listener of the same broker; wherelog uses the TLS one."""
import os
import subprocess
import unittest

import harness as h


def openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    p = {name: os.path.join(d, name) for name in (
        "ca.key", "ca.pem", "server.key", "server.csr", "server.pem", "client.key",
        "client.csr", "client.pem", "other-ca.key", "other-ca.pem", "ext")}
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=wherelog test CA",
            "-keyout", p["ca.key"], "-out", p["ca.pem"])
    openssl("req", "-x509", *ec, "-days", "1", "-subj", "/CN=someone else",
            "-keyout", p["other-ca.key"], "-out", p["other-ca.pem"])
    with open(p["ext"], "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who, cn in (("server", "localhost"), ("client", "wherelog")):
        openssl("req", "-new", *ec, "-subj", "/CN=" + cn, "-keyout", p[who + ".key"],
                "-out", p[who + ".csr"])
        openssl("x509", "-req", "-in", p[who + ".csr"], "-CA", p["ca.pem"], "-CAkey",
                p["ca.key"], "-CAcreateserial", "-days", "1", "-out", p[who + ".pem"],
                *(["-extfile", p["ext"]] if who == "server" else []))
    return p


class MqttTls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = h.Workdir()
        cls.pki = make_pki(cls.dir.file(""))
        cls.passwd = cls.dir.file("mosquitto.passwd")
        subprocess.run(["mosquitto_passwd", "-b", "-c", cls.passwd, "recorder", "s3cret pass"],
                       check=True, capture_output=True)
        cls.tls_port = h.free_port()
        tls = ("listener {port} 127.0.0.1\n"
               "cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
               "require_certificate true\n"
               "allow_anonymous false\npassword_file {pw}\n").format(
            port=cls.tls_port, ca=cls.pki["ca.pem"], cert=cls.pki["server.pem"],
            key=cls.pki["server.key"], pw=cls.passwd)
        cls.broker = h.Broker(cls.dir, tls, global_conf="per_listener_settings true\n").start()
        for name, text in (("right", "s3cret pass\n"), ("wrong", "guess\n")):
            with open(cls.dir.file(name + ".pw"), "w") as f:
                f.write(text)

    @classmethod
    def tearDownClass(cls):
        cls.broker.stop()
        cls.dir.remove()

    def serve(self, password="right", ca="ca.pem", client_cert=True):
        args = ["--mqtt-port", str(self.tls_port), "--mqtt-cafile", self.pki[ca],
                "--mqtt-user", "recorder", "--mqtt-password-file",
                self.dir.file(password + ".pw")]
        if client_cert:
            args += ["--mqtt-certfile", self.pki["client.pem"], "--mqtt-keyfile",
                     self.pki["client.key"]]
        storage = self.dir.file("store-%s-%s-%s" % (password, ca, client_cert))
        server = h.Server(self.dir, storage, self.broker.port, args)
        # The harness's --mqtt-port comes first; ours, later on the line, wins.
        return server

    def test_tls_with_password_and_client_certificate_stores_messages(self):
        server = self.serve().start()
        try:
            self.assertIn("connected to 127.0.0.1:%d" % self.tls_port, server.log_text())
            h.publish(self.broker.port, [h.location("tls", "phone", 1733000000 + i)
                                          for i in range(50)])
            h.sync(self.broker.port, server.storage)
            self.assertEqual(len(h.export(server.storage, "tls", "phone")), 50)
        finally:
            server.stop()

    def test_refusals_are_logged_and_retried_without_a_crash(self):
        cases = [({"password": "wrong"}, "not authorised"),
                 ({"ca": "other-ca.pem"}, "A TLS error occurred"),
                 ({"client_cert": False}, "cannot connect")]
        for kwargs, expect in cases:
            server = self.serve(**kwargs).start(wait_subscribed=False)
            try:
                h.wait_for(lambda: expect in server.new_log(), 20, expect)
                h.wait_for(lambda: server.new_log().count(expect) >= 2, 20, "a retry")
                self.assertIsNone(server.proc.poll(), "still running")
                self.assertNotIn("subscribed to", server.new_log())
                self.assertNotIn("s3cret", server.log_text(), "the password is never logged")
            finally:
                self.assertEqual(server.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
