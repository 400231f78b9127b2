"""Per-detector sample tables: valid values, invalid checksums and near misses."""

from __future__ import annotations

_B62 = "aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xYzZ"  # 34 base62 characters
_PEM_RSA = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HECdnH\n"
    "lWu2/a1gB9JW5TBQ+AVpum9Okx7KfqkfBKL9mcHgSL0yWMdjMfNOqNtrQqKlN4kE\n"
    "-----END RSA PRIVATE KEY-----"
)
_PEM_OPENSSH = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\r\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\r\n"
    "QyNTUxOQAAACDm8xFhVbBxQzjR2Kp8g6Vwp3v0cbXGqmjC+3Ulm4SX1AAAAJhYgxV2WIMV\r\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
_JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
    "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
_AZURE = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="

# detector name → (valid samples, invalid-checksum samples, near misses).
# A valid sample is (text, secret): ``secret`` must be gone from the masked output.
VALID: dict[str, list[tuple[str, str]]] = {
    "credit_card": [
        ("4111111111111111", "4111111111111111"),
        ("card 4111 1111 1111 1111 exp", "1111 1111 1111"),
        ("card 4111  1111 1111  1111 exp", "1111 1111"),
        ("pan 5555 5555  5555 4444.", "5555  5555"),
        ("4111-1111-1111-1111", "1111-1111-1111"),
        ("unionpay 6200 0000 0000 0000 000", "6200 0000 0000 0000 000"),
        ("discover 6011-0000-0000-0000-001", "6011-0000-0000-0000-001"),
        ("5555555555554444", "5555555555554444"),
        ("2223003122003222", "2223003122003222"),
        ("amex 378282246310005.", "378282246310005"),
        ("3782 822463 10005", "822463"),
        ("6011111111111117", "6011111111111117"),
        ("3530111333300000", "3530111333300000"),
        ("30569309025904", "30569309025904"),
        ("4222222222222", "4222222222222"),
    ],
    "iban": [
        ("DE89370400440532013000", "370400440532013000"),
        ("iban: DE89 3704 0044 0532 0130 00", "3704 0044 0532"),
        ("GB82WEST12345698765432", "12345698765432"),
        ("NL91ABNA0417164300", "0417164300"),
        ("FR1420041010050500013M02606", "20041010050500013M02606"),
    ],
    "us_ssn": [
        ("ssn 123-45-6789", "123-45-6789"),
        ("078-05-1120", "078-05-1120"),
        ("123 45 6789", "123 45 6789"),
    ],
    "us_itin": [("912-70-1234", "912-70-1234"), ("itin 999 88 1234", "999 88 1234")],
    "aba_routing": [
        ("routing number: 021000021", "021000021"),
        ("ABA 011000015", "011000015"),
        ("routing_number=122105155", "122105155"),
    ],
    "ca_sin": [
        ("130 692 544", "130 692 544"),
        ("sin 347-677-452", "347-677-452"),
        ("SIN: 130692544", "130692544"),
    ],
    "uk_nino": [
        ("AB 12 34 56 C", "12 34 56"),
        ("AB123456C", "AB123456C"),
        ("nino: CE123456D.", "CE123456D"),
    ],
    "br_cpf": [
        ("cpf 529.982.247-25", "529.982.247-25"),
        ("52998224725", "52998224725"),
        ("111.444.777-35", "111.444.777-35"),
    ],
    "in_aadhaar": [
        ("234567890124", "234567890124"),
        ("aadhaar 9876 5432 1012", "9876 5432 1012"),
        ("2345-6789-0124", "2345-6789-0124"),
    ],
    "imei": [
        ("490154203237518", "490154203237518"),
        ("35-209900-176148-1", "209900-176148"),
        ("IMEI 352099-00-176148-1", "352099-00-176148-1"),
    ],
    "email": [
        ("mail alice@example.com now", "alice@example.com"),
        ("<first.last+tag@sub.example.co.uk>", "first.last+tag@sub.example.co.uk"),
        ("x_y%z@mail-server.org,", "x_y%z@mail-server.org"),
        ("to info@xn--80ak6aa92e.xn--p1ai", "info@xn--80ak6aa92e"),
        ("an IDN: jürgen@bücher.de.", "jürgen@bücher"),
        ("svc_bot@ex_ample.com", "svc_bot@ex_ample.com"),
        ("ci git.bot@github.com", "git.bot@github.com"),
    ],
    "phone_e164": [
        ("+14155552671", "4155552671"),
        ("call +44 20 7183 8750.", "7183 8750"),
        ("+1 (415) 555-2671", "555-2671"),
        ("+49-30-1234567", "1234567"),
    ],
    "ipv4": [("host 192.168.1.10 up", "192.168.1.10"), ("dns 8.8.8.8", "8.8.8.8")],
    "ipv6": [
        ("2001:db8::1", "2001:db8::1"),
        ("fe80::1ff:fe23:4567:890a", "fe80::1ff:fe23:4567:890a"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "85a3:0000:0000:8a2e"),
    ],
    "mac_address": [("00:1A:2B:3C:4D:5E", "2B:3C:4D"), ("00-1a-2b-3c-4d-5e", "2b-3c-4d")],
    "aws_access_key_id": [
        ("AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
        ("id=ASIAY34FZKBOKMUTVV7A;", "Y34FZKBOKMUTVV7A"),
    ],
    "aws_secret_access_key": [
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
    ],
    "gcp_api_key": [
        ("key=AIzaSyA-1234567890abcdefghijklmnopqrstu", "1234567890abcdefghijklmnopqrstu")
    ],
    "google_oauth_client_secret": [
        ("GOCSPX-" + _B62[:28], _B62[:28]),
    ],
    "azure_storage_key": [
        ("DefaultEndpointsProtocol=https;AccountKey=" + _AZURE + ";", _AZURE[:60]),
    ],
    "github_token": [
        ("ghp_" + _B62 + "12", _B62),
        ("token gho_" + _B62 + "34 ok", _B62),
        ("ghs_" + _B62 + "56", _B62),
    ],
    "github_fine_grained_token": [
        ("github_pat_11ABCDEFG0123456789abc_" + _B62 + _B62[:25], _B62 + _B62[:25]),
    ],
    "gitlab_token": [("glpat-" + _B62[:20], _B62[:20]), ("glrt-" + _B62[:24], _B62[:24])],
    "slack_token": [
        ("xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx"),
        ("xoxp-" + _B62, _B62),
        ("refresh xoxe-1-" + _B62, _B62),
        ("access xoxe.xoxp-1-" + _B62, "xoxe.xoxp-1-" + _B62),
    ],
    "slack_webhook": [
        (
            "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
            "XXXXXXXXXXXXXXXXXXXXXXXX",
        )
    ],
    "stripe_key": [
        ("sk_live_" + _B62[:24], _B62[:24]),
        ("sk_test_" + _B62[:24], _B62[:24]),
        ("rk_live_" + _B62[:24], _B62[:24]),
    ],
    "npm_token": [("//registry.npmjs.org/:_authToken=npm_" + _B62 + "12", _B62)],
    "pypi_token": [("pypi-AgEIcHlwaS5vcmc" + _B62 * 3, _B62 * 3)],
    "sendgrid_api_key": [("SG." + _B62[:22] + "." + _B62 + _B62[:9], _B62 + _B62[:9])],
    "openai_api_key": [("sk-proj-" + _B62[:20] + "T3BlbkFJ" + _B62[:20], _B62[:20])],
    "anthropic_api_key": [("sk-ant-api03-" + _B62 * 3, _B62 * 2)],
    "huggingface_token": [
        ("hf_" + "abcdefghijklmnopqrstuvwxyzABCDEFGH", "ijklmnopqrstuvwxyzABCDEFGH")
    ],
    "digitalocean_token": [("dop_v1_" + "0123456789abcdef" * 4, "0123456789abcdef" * 3)],
    "jwt": [(_JWT, _JWT[40:]), ("Authorization: Bearer " + _JWT, "SflKxwRJSMeKKF2QT4fwpMeJf36")],
    "private_key": [
        (_PEM_RSA, "MIIEowIBAAKCAQEA1c7"),
        ("key:\n" + _PEM_OPENSSH + "\ndone", "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n",
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        ),
    ],
    "url_password": [
        ("postgres://bob:hunter2@db.example.com/x", "hunter2"),
        ("https://user:p%40ss-w0rd!@example.com", "p%40ss-w0rd!"),
    ],
    "password_assignment": [
        ("password=hunter2", "hunter2"),
        ("PGPASSWORD=s3cr3t psql -h db", "s3cr3t"),
        ("passwd: hunter2", "hunter2"),
        ('DB_PASSWORD="correct horse battery"', "correct horse battery"),
        ("MYSQL_PWD=abc123def", "abc123def"),
        ("client_secret: xyz789", "xyz789"),
        ('{"password": "hunter2"}', "hunter2"),
        ("export API_KEY='k-123-456'", "k-123-456"),
        ("password=p(4)$s]w{0}rd!", "p(4)$s]w{0}rd!"),
        ('apikey := "m{{h}o)p${e]nob(ody}}"', "m{{h}o)p${e]nob(ody}}"),
        ("private_key 'zQ9x-7Lk2+aa';", "zQ9x-7Lk2+aa"),
        ("mysql --password hunter2 db", "hunter2"),
        ("curl -H 'Authorization: Bearer abc.DEF-123_x' https://api", "abc.DEF-123_x"),
        ('-H "authorization: Basic dXNlcjpwYXNz"', "dXNlcjpwYXNz"),
    ],
    "password_option": [
        ("mysql -uroot -pS3cretPassw0rd shop", "S3cretPassw0rd"),
        ("mysqldump -h db -u app -pHunter22 --all-databases", "Hunter22"),
        ("mariadb -p'quoted pw' db", "quoted pw"),
        ("sshpass -p hunter22 ssh host", "hunter22"),
    ],
}

INVALID_CHECKSUM: dict[str, list[str]] = {
    "credit_card": [
        "4111111111111112",
        "5555555555554443",
        "378282246310006",
        "4111 1111 1111 1112",
        "4111  1111 1111  1112",
    ],
    "iban": ["DE89370400440532013001", "GB82WEST12345698765433", "DE88 3704 0044 0532 0130 00"],
    "us_ssn": ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000"],
    "us_itin": ["912-93-1234", "912-89-1234", "912-49-1234", "812-70-1234"],
    "aba_routing": ["routing number: 021000022", "routing number: 991000021"],
    # 046 454 286 is the example printed on government forms: first digit 0 is not assigned.
    "ca_sin": ["130 692 545", "846 454 286", "046 454 286"],
    "uk_nino": ["GB123456A", "BG 12 34 56 A", "NK123456A"],
    "br_cpf": ["529.982.247-26", "111.111.111-11", "52998224724"],
    "in_aadhaar": ["234567890125", "9876 5432 1013"],
    "imei": ["490154203237519", "35-209900-176148-2"],
    "phone_e164": ["+1234567"],
    "ipv6": ["abc::def::1", "1:2:3:4:5:6:7:8:9"],
    "jwt": ["eyJub3Rqc29u.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc"],
}

NEAR_MISS: dict[str, list[str]] = {
    "credit_card": [
        "1234567812345678",
        "411111111111111",
        "x4111111111111111",
        "41111111111111111111",
    ],
    "iban": ["DE8937040044053201300", "XX89370400440532013000", "de89370400440532013000"],
    "us_ssn": ["123456789", "123-45-67890", "12-345-6789", "123-45 6789"],
    "us_itin": ["9127-0-1234", "912701234"],
    "aba_routing": [
        "routing number: 0210000211",
        "database 021000021",
        "021000021 bytes",
        "size: 021000021",
        "000000000",
    ],
    "ca_sin": ["130692544", "130 692 5441"],
    "uk_nino": ["AB123456E", "DA123456A", "AO123456A", "XAB123456C"],
    "br_cpf": ["529.982.247-2", "529-982-247.25"],
    "in_aadhaar": ["1234 5678 9012", "0234 5678 9012", "23456789012"],
    "imei": ["49015420323751", "4901542032375180"],
    "email": [
        "alice@localhost",
        "alice@example",
        "@example.com",
        "alice@.com",
        "git@github.com:org/repo.git",
        "From: noreply@github.com",
    ],
    "phone_e164": ["+1234", "14155552671", "abc+14155552671"],
    "ipv4": ["256.1.1.1", "1.2.3", "1.2.3.4.5", "version 10.2.3"],
    "ipv6": ["12:34:56", "a:b"],
    "mac_address": ["00:1A:2B:3C:4D", "00:1A-2B:3C:4D:5E"],
    "aws_access_key_id": ["AKIAIOSFODNN7EXAMPL", "XAKIAIOSFODNN7EXAMPLE", "akiaiosfodnn7example"],
    "aws_secret_access_key": ["aws_secret_access_key = short", "secret: " + "a" * 39],
    "gcp_api_key": ["AIzaSyA-1234567890abcdefghijklmnopqrst"],
    "google_oauth_client_secret": ["GOCSPX-short"],
    "azure_storage_key": ["AccountKey=short==", "AccountName=foo"],
    "github_token": ["ghp_" + _B62[:30], "ghx_" + _B62 + "12", "ghp-" + _B62 + "12"],
    "github_fine_grained_token": ["github_pat_short"],
    "gitlab_token": ["glpat-" + _B62[:19], "glpat_" + _B62[:20]],
    "slack_token": ["xoxz-123456789012-1234567890", "xoxb-short"],
    "slack_webhook": ["https://hooks.slack.com/services/"],
    # Publishable keys are public by design (detect-secrets agrees).
    "stripe_key": ["sk_live_abc", "sk_prod_" + _B62[:24], "pk_live_" + _B62[:24]],
    "npm_token": ["npm_" + _B62[:30], "npm_install"],
    "pypi_token": ["pypi-AgEIcHlwaS5vcmcshort", "pypi-token", "pypi-AgEIcHlwaS5vcmc" + _B62 * 2],
    "sendgrid_api_key": ["SG.short.short"],
    "openai_api_key": ["sk-" + _B62],
    "anthropic_api_key": ["sk-ant-api03-short"],
    "huggingface_token": ["hf_short", "hf_" + "a1" * 17],
    "digitalocean_token": ["dop_v1_" + "g" * 64],
    "jwt": ["eyJhbGciOiJIUzI1NiJ9", "eyJ.eyJ.x"],
    "private_key": [
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQ\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
    ],
    "url_password": ["https://example.com:8443/path", "ssh://bob@host", "http://host/a:b@c"],
    "password_assignment": [
        "Password:",
        "bypass=1",
        "passes: 3",
        "PWD=/home/alice",
        "[sudo] password for alice:",
        "password = ",
        "tests passed: 10",
        "secrets: 3",
        "pass-through: your own terminal",
        "compass: north",
        "password: ${link}",
        "API_KEY=$API_KEY",
        'password = ""',
        "my_password = True",
        "login(username=username, password=password)",
        "my_password = request.json_body['hey']",
        "if password == other:",
        "Authorization: Bearer $TOKEN",
        "Authorization: token %s",
        "Authorization required",
    ],
    "password_option": [
        "mysql -h db -u root -p shop",
        "mkdir -p /tmp/x",
        "ssh -p2222 host",
        "sshpass -f ~/.pw ssh host",
    ],
}

# Ordinary output that the default policy must leave byte-identical.
ORDINARY = [
    "2024-05-01T12:34:56.789Z INFO request id=9f86d081884c7d65 status=200 in 12ms",
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "uuid 123e4567-e89b-12d3-a456-426614174000",
    "total 48\ndrwxr-xr-x  2 alice staff  4096 Jan  1 12:00 .\n",
    "version 1.2.3.4 build 20240501",
    "price: 1234.56 EUR, qty 1000000",
    "Password: ",
    "ssh alice@host -p 2222",
    "SELECT id, name FROM users WHERE id = 42;",
    "\x1b[01;34mbin\x1b[0m  \x1b[01;32mrun.sh\x1b[0m",
    "Epoch 1714566896123 ms",
    "héllo wörld ✓ 日本語",
]
