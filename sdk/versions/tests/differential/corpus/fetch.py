#!/usr/bin/env python3
"""Fetches every published version of a few hundred popular packages per
ecosystem into `<ecosystem>.versions` beside this script (one distinct
version string per line, sorted): the real half of the differential tests'
corpus. Run once and commit the files; the tests only read them.

Registry locations come from the clients' own configuration, never from this
repository: `npm config get registry`; pip's index (`pip config get
global.index-url`, else pip's built-in default); the sparse index cargo has
cached under ~/.cargo/registry/index; the first entry of `go env GOPROXY`;
the central repository of Maven's own super POM (in the maven-model-builder
jar Debian's maven ships).

    python3 sdk/versions/tests/differential/corpus/fetch.py [ECOSYSTEM...]
"""

import json
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.etree import ElementTree

HERE = Path(__file__).resolve().parent

NPM = """
react react-dom vue @angular/core svelte next nuxt vite webpack rollup esbuild parcel typescript
@babel/core @babel/preset-env @babel/parser @babel/traverse @babel/types eslint prettier jest mocha
vitest chai sinon ava tap jasmine karma cypress playwright puppeteer express koa fastify hapi
@hapi/hapi restify body-parser cookie-parser cors helmet morgan multer passport jsonwebtoken bcrypt
bcryptjs lodash underscore ramda immutable moment dayjs date-fns luxon axios node-fetch got
superagent request ws socket.io socket.io-client uuid nanoid chalk commander yargs minimist
inquirer ora debug dotenv cross-env rimraf mkdirp glob minimatch semver fs-extra graceful-fs
chokidar nodemon pm2 concurrently npm-run-all husky lint-staged rxjs redux react-redux mobx
zustand jquery bootstrap tailwindcss postcss autoprefixer sass less styled-components
@emotion/react classnames clsx qs query-string mime mime-types content-type iconv-lite
string_decoder safe-buffer buffer readable-stream through2 pump once inherits util-deprecate
core-util-is isarray process-nextick-args events async bluebird q p-limit p-map p-queue
async-retry retry ms tslib core-js regenerator-runtime @types/node @types/react @types/express
ts-node tsx ts-jest typeorm sequelize mongoose mongodb pg mysql mysql2 redis ioredis knex
prisma @prisma/client graphql apollo-server @apollo/client graphql-tag handlebars ejs pug
mustache marked markdown-it highlight.js prismjs cheerio jsdom htmlparser2 xml2js yaml js-yaml
ajv joi yup zod validator class-validator class-transformer reflect-metadata inversify rxjs-compat
winston pino bunyan log4js loglevel source-map source-map-support terser uglify-js babel-loader
css-loader style-loader file-loader url-loader html-webpack-plugin mini-css-extract-plugin
webpack-cli webpack-dev-server webpack-merge copy-webpack-plugin eslint-plugin-react
eslint-plugin-import eslint-config-airbnb eslint-config-prettier eslint-plugin-prettier
@typescript-eslint/parser @typescript-eslint/eslint-plugin stylelint browserslist caniuse-lite
electron-to-chromium node-releases picocolors kleur colors cli-table3 boxen figlet blessed
update-notifier configstore conf cosmiconfig find-up pkg-dir read-pkg execa cross-spawn which
shelljs tar archiver adm-zip jszip yauzl unzipper form-data formidable busboy http-proxy
http-proxy-middleware http-errors statuses on-finished finalhandler serve-static send
path-to-regexp cookie vary negotiator accepts type-is raw-body bytes depd destroy ee-first
encodeurl escape-html etag fresh merge-descriptors methods parseurl proxy-addr range-parser
setprototypeof toidentifier unpipe utils-merge sharp jimp canvas three d3 chart.js leaflet
@mui/material antd vuetify quasar ionic @ionic/core react-router react-router-dom vue-router
@reduxjs/toolkit immer swr @tanstack/react-query formik react-hook-form classnames-ts
big.js bignumber.js decimal.js mathjs numeral crypto-js node-forge tweetnacl elliptic bn.js
ethers web3 lru-cache node-cache keyv cacheable-request dns-packet ip ipaddr.js netmask
aws-sdk @aws-sdk/client-s3 firebase firebase-admin googleapis stripe twilio nodemailer
sendgrid @sendgrid/mail bull bullmq agenda node-cron cron kue amqplib kafkajs mqtt nats
zeromq grpc @grpc/grpc-js protobufjs long ts-morph esprima acorn espree recast jscodeshift
@swc/core @swc/cli babel-jest istanbul nyc c8 supertest nock msw faker @faker-js/faker
chance lorem-ipsum storybook @storybook/react lerna nx turbo yarn pnpm npm corepack
""".split()

PYPI = """
requests urllib3 certifi idna charset-normalizer chardet six setuptools wheel pip packaging
pyparsing attrs typing-extensions numpy pandas scipy matplotlib scikit-learn tensorflow torch
keras jax flax transformers tokenizers datasets huggingface-hub safetensors accelerate
sentencepiece nltk spacy gensim pillow opencv-python imageio scikit-image seaborn plotly bokeh
dash streamlit gradio jupyter notebook ipython ipykernel jupyterlab nbformat nbconvert
flask django fastapi starlette uvicorn gunicorn werkzeug jinja2 markupsafe itsdangerous click
sqlalchemy alembic psycopg2 psycopg2-binary pymysql mysqlclient redis celery kombu billiard
pymongo motor boto3 botocore s3transfer awscli google-cloud-storage google-api-core
google-auth protobuf grpcio grpcio-tools pyyaml toml tomli tomlkit ujson orjson simplejson
msgpack pydantic pydantic-core marshmallow cerberus jsonschema python-dateutil pytz tzdata
arrow pendulum babel cryptography pyopenssl bcrypt paramiko pynacl rsa pyjwt oauthlib
requests-oauthlib httpx httpcore h11 anyio sniffio aiohttp multidict yarl frozenlist
aiosignal async-timeout websockets websocket-client tornado twisted gevent greenlet eventlet
pytest pytest-cov pytest-mock pytest-xdist pytest-asyncio coverage tox nox hypothesis mock
black isort flake8 pylint mypy ruff pyflakes pycodestyle autopep8 yapf bandit pre-commit
virtualenv pipenv poetry poetry-core hatchling flit-core pdm build twine setuptools-scm
cython numba llvmlite cffi pycparser pybind11 lxml beautifulsoup4 soupsieve html5lib
scrapy selenium playwright pyppeteer mechanize tqdm rich colorama termcolor tabulate
prettytable docopt typer fire argcomplete psutil pywin32 distro platformdirs appdirs
filelock watchdog pathspec wcwidth prompt-toolkit pygments docutils sphinx mkdocs
mkdocs-material markdown mistune nbsphinx networkx sympy statsmodels xgboost lightgbm
catboost optuna mlflow wandb tensorboard onnx onnxruntime openai anthropic langchain
tiktoken regex more-itertools toolz cytoolz decorator wrapt deprecated cachetools
diskcache joblib dill cloudpickle fsspec s3fs gcsfs pyarrow fastparquet polars dask
distributed xarray netcdf4 h5py tables openpyxl xlrd xlsxwriter python-docx reportlab
pypdf2 pdfminer-six sentry-sdk structlog loguru prometheus-client opentelemetry-api
opentelemetry-sdk ddtrace elasticsearch kafka-python confluent-kafka pika paho-mqtt
pyzmq zope-interface zope-event setuptools-rust maturin semantic-version
""".split()

CRATES = """
serde serde_json serde_derive serde_yaml toml tokio tokio-util futures futures-util async-trait
hyper http http-body reqwest axum actix-web warp tower tower-http tonic prost bytes mio
rand rand_core rand_chacha getrandom libc log env_logger tracing tracing-subscriber anyhow
thiserror clap structopt regex lazy_static once_cell itertools chrono time uuid url
base64 hex sha2 sha1 md-5 digest blake3 ring rustls rustls-pemfile webpki-roots openssl
native-tls syn quote proc-macro2 unicode-ident cfg-if bitflags memchr aho-corasick
byteorder smallvec arrayvec indexmap hashbrown ahash parking_lot crossbeam crossbeam-channel
rayon num num-traits num-integer num-bigint either scopeguard tempfile walkdir glob ignore
dirs directories which semver cargo_metadata toml_edit pest nom winnow combine lalrpop
wasm-bindgen js-sys web-sys wasmtime wasmparser wit-bindgen cranelift-codegen gimli object
addr2line backtrace image png flate2 zip tar miniz_oxide zstd brotli lz4_flex bzip2 xz2
sqlx diesel rusqlite postgres tokio-postgres redis mongodb deadpool r2d2 bb8 sea-orm
criterion proptest quickcheck insta mockall pretty_assertions rstest serial_test test-case
crossterm termcolor colored console indicatif dialoguer ratatui tui nu-ansi-term ansi_term
atty is-terminal notify signal-hook ctrlc nix windows-sys winapi mime mime_guess
percent-encoding form_urlencoded idna encoding_rs unicode-segmentation unicode-width
unicode-normalization bstr camino fs-err same-file filetime dashmap arc-swap crossbeam-utils
slab generic-array typenum zeroize subtle constant_time_eq ed25519-dalek curve25519-dalek
x25519-dalek p256 k256 rsa aes aes-gcm chacha20poly1305 hmac pbkdf2 argon2 bcrypt scrypt
jsonwebtoken oauth2 cookie tungstenite tokio-tungstenite async-std smol pin-project
pin-project-lite pin-utils futures-core futures-channel static_assertions paste
derive_more strum strum_macros num_cpus num_enum bincode postcard rmp-serde ciborium
serde_with schemars validator humantime humantime-serde bytesize byte-unit sysinfo
""".split()

GO = """
github.com/gin-gonic/gin github.com/labstack/echo/v4 github.com/gorilla/mux github.com/go-chi/chi/v5
github.com/spf13/cobra github.com/spf13/viper github.com/spf13/pflag github.com/sirupsen/logrus
go.uber.org/zap github.com/rs/zerolog github.com/stretchr/testify github.com/google/uuid
github.com/pkg/errors golang.org/x/net golang.org/x/sys golang.org/x/text golang.org/x/crypto
golang.org/x/mod golang.org/x/tools golang.org/x/sync golang.org/x/oauth2 golang.org/x/time
google.golang.org/grpc google.golang.org/protobuf github.com/golang/protobuf gopkg.in/yaml.v3
gopkg.in/yaml.v2 github.com/go-sql-driver/mysql github.com/lib/pq github.com/jackc/pgx/v5
gorm.io/gorm github.com/redis/go-redis/v9 github.com/go-redis/redis/v8
github.com/prometheus/client_golang github.com/prometheus/common github.com/golang-jwt/jwt/v5
github.com/dgrijalva/jwt-go github.com/aws/aws-sdk-go github.com/aws/aws-sdk-go-v2
github.com/hashicorp/consul/api github.com/hashicorp/vault/api github.com/hashicorp/go-multierror
github.com/hashicorp/golang-lru github.com/json-iterator/go github.com/mitchellh/mapstructure
github.com/fsnotify/fsnotify github.com/gorilla/websocket github.com/valyala/fasthttp
github.com/gofiber/fiber/v2 github.com/urfave/cli/v2 github.com/cespare/xxhash/v2
github.com/davecgh/go-spew github.com/pmezard/go-difflib github.com/google/go-cmp
github.com/opencontainers/image-spec github.com/docker/docker github.com/containerd/containerd
k8s.io/api k8s.io/apimachinery k8s.io/client-go sigs.k8s.io/controller-runtime
go.etcd.io/etcd/client/v3 go.opentelemetry.io/otel github.com/klauspost/compress
github.com/golang/snappy github.com/BurntSushi/toml github.com/mattn/go-sqlite3
github.com/mattn/go-isatty github.com/fatih/color github.com/charmbracelet/bubbletea
github.com/Masterminds/semver/v3 github.com/blang/semver/v4 github.com/hashicorp/go-version
""".split()

MAVEN = """
junit:junit org.junit.jupiter:junit-jupiter-api org.junit.jupiter:junit-jupiter-engine
org.mockito:mockito-core org.assertj:assertj-core org.hamcrest:hamcrest org.testng:testng
org.slf4j:slf4j-api org.slf4j:slf4j-simple ch.qos.logback:logback-classic ch.qos.logback:logback-core
org.apache.logging.log4j:log4j-core org.apache.logging.log4j:log4j-api log4j:log4j
com.google.guava:guava com.google.code.gson:gson com.google.protobuf:protobuf-java
com.google.inject:guice com.google.code.findbugs:jsr305 com.google.errorprone:error_prone_annotations
com.fasterxml.jackson.core:jackson-databind com.fasterxml.jackson.core:jackson-core
com.fasterxml.jackson.core:jackson-annotations com.fasterxml.jackson.dataformat:jackson-dataformat-yaml
org.apache.commons:commons-lang3 org.apache.commons:commons-collections4 org.apache.commons:commons-text
org.apache.commons:commons-compress org.apache.commons:commons-math3 commons-io:commons-io
commons-codec:commons-codec commons-logging:commons-logging commons-collections:commons-collections
commons-lang:commons-lang commons-beanutils:commons-beanutils commons-cli:commons-cli
org.apache.httpcomponents:httpclient org.apache.httpcomponents:httpcore
org.apache.httpcomponents.client5:httpclient5 com.squareup.okhttp3:okhttp com.squareup.retrofit2:retrofit
com.squareup.okio:okio io.netty:netty-all io.netty:netty-handler io.netty:netty-codec-http
io.projectreactor:reactor-core io.reactivex.rxjava3:rxjava io.reactivex.rxjava2:rxjava
org.springframework:spring-core org.springframework:spring-context org.springframework:spring-web
org.springframework:spring-webmvc org.springframework:spring-beans org.springframework:spring-jdbc
org.springframework.boot:spring-boot org.springframework.boot:spring-boot-starter
org.springframework.boot:spring-boot-starter-web org.springframework.boot:spring-boot-autoconfigure
org.springframework.security:spring-security-core org.springframework.data:spring-data-jpa
org.hibernate:hibernate-core org.hibernate.validator:hibernate-validator org.hibernate:hibernate-validator
javax.servlet:javax.servlet-api jakarta.servlet:jakarta.servlet-api javax.validation:validation-api
jakarta.validation:jakarta.validation-api javax.annotation:javax.annotation-api
jakarta.annotation:jakarta.annotation-api javax.inject:javax.inject org.yaml:snakeyaml
org.apache.tomcat.embed:tomcat-embed-core org.eclipse.jetty:jetty-server org.eclipse.jetty:jetty-util
io.undertow:undertow-core org.glassfish.jersey.core:jersey-server org.glassfish.jersey.core:jersey-client
org.apache.kafka:kafka-clients org.apache.zookeeper:zookeeper org.apache.hadoop:hadoop-common
org.apache.spark:spark-core_2.12 org.scala-lang:scala-library org.jetbrains.kotlin:kotlin-stdlib
org.jetbrains.kotlinx:kotlinx-coroutines-core org.jetbrains:annotations org.projectlombok:lombok
org.mapstruct:mapstruct org.postgresql:postgresql mysql:mysql-connector-java com.mysql:mysql-connector-j
com.h2database:h2 org.xerial:sqlite-jdbc com.zaxxer:HikariCP org.mongodb:mongodb-driver-sync
redis.clients:jedis io.lettuce:lettuce-core org.elasticsearch.client:elasticsearch-rest-client
org.apache.maven:maven-core org.apache.maven:maven-artifact org.apache.maven.plugins:maven-compiler-plugin
org.apache.maven.plugins:maven-surefire-plugin org.apache.maven.plugins:maven-jar-plugin
org.apache.maven.plugins:maven-shade-plugin org.codehaus.plexus:plexus-utils org.ow2.asm:asm
net.bytebuddy:byte-buddy org.javassist:javassist cglib:cglib org.aspectj:aspectjweaver
io.micrometer:micrometer-core io.dropwizard.metrics:metrics-core io.grpc:grpc-core io.grpc:grpc-netty
org.bouncycastle:bcprov-jdk18on org.bouncycastle:bcprov-jdk15on io.jsonwebtoken:jjwt-api
com.auth0:java-jwt org.jsoup:jsoup com.opencsv:opencsv org.apache.poi:poi org.apache.poi:poi-ooxml
com.itextpdf:itextpdf org.apache.pdfbox:pdfbox joda-time:joda-time org.threeten:threetenbp
com.github.ben-manes.caffeine:caffeine net.sf.ehcache:ehcache org.quartz-scheduler:quartz
org.apache.camel:camel-core org.apache.activemq:activemq-client com.rabbitmq:amqp-client
software.amazon.awssdk:s3 com.amazonaws:aws-java-sdk-s3 com.google.cloud:google-cloud-storage
io.swagger:swagger-annotations org.openapitools:jackson-databind-nullable org.freemarker:freemarker
org.thymeleaf:thymeleaf org.apache.velocity:velocity-engine-core org.antlr:antlr4-runtime
org.apache.groovy:groovy org.codehaus.groovy:groovy org.clojure:clojure org.checkerframework:checker-qual
""".split()


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def command(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def npm_versions(name):
    base = command("npm", "config", "get", "registry").rstrip("/")
    quoted = urllib.parse.quote(name, safe="@")
    doc = json.loads(get(f"{base}/{quoted}", "application/vnd.npm.install-v1+json"))
    return list(doc.get("versions", {}))


def pypi_index():
    configured = command(sys.executable, "-m", "pip", "config", "get", "global.index-url")
    if configured:
        return configured.rstrip("/")
    from pip._internal.models.index import PyPI  # pip's own default index

    return PyPI.simple_url.rstrip("/")


def pypi_versions(name):
    doc = json.loads(get(f"{pypi_index()}/{name}/", "application/vnd.pypi.simple.v1+json"))
    return doc.get("versions", [])


def sparse_index():
    cached = sorted((Path.home() / ".cargo/registry/index").glob("*"))
    hosts = [p.name.rsplit("-", 1)[0] for p in cached if not p.name.startswith("github.com")]
    if not hosts:
        sys.exit("no sparse index in ~/.cargo/registry/index: run a cargo fetch first")
    return f"https://{hosts[0]}"


def crate_versions(name):
    lower = name.lower()
    if len(lower) <= 2:
        path = f"{len(lower)}/{lower}"
    elif len(lower) == 3:
        path = f"3/{lower[0]}/{lower}"
    else:
        path = f"{lower[:2]}/{lower[2:4]}/{lower}"
    lines = get(f"{sparse_index()}/{path}").decode().splitlines()
    return [json.loads(line)["vers"] for line in lines if line.strip()]


def go_versions(module):
    proxy = command("go", "env", "GOPROXY").split(",")[0].split("|")[0]
    escaped = "".join(f"!{c.lower()}" if c.isupper() else c for c in module)
    return get(f"{proxy}/{escaped}/@v/list").decode().split()


def maven_central():
    jars = sorted(Path("/usr/share/maven/lib").glob("maven-model-builder*.jar"))
    if not jars:
        sys.exit("no maven-model-builder jar: install Debian's maven")
    pom = command("unzip", "-p", str(jars[-1]), "org/apache/maven/model/pom-4.0.0.xml")
    return re.search(r"<url>([^<]+)</url>", pom).group(1).rstrip("/")


def maven_versions(coordinates):
    group, artifact = coordinates.split(":")
    path = f"{group.replace('.', '/')}/{artifact}/maven-metadata.xml"
    metadata = ElementTree.fromstring(get(f"{maven_central()}/{path}"))
    return [v.text for v in metadata.iterfind("versioning/versions/version") if v.text]


ECOSYSTEMS = {
    "npm": (NPM, npm_versions),
    "pypi": (PYPI, pypi_versions),
    "crates": (CRATES, crate_versions),
    "go": (GO, go_versions),
    "maven": (MAVEN, maven_versions),
}


def fetch(ecosystem):
    names, versions_of = ECOSYSTEMS[ecosystem]

    def one(name):
        try:
            return versions_of(name)
        except Exception as error:  # a missing package is reported, not fatal
            print(f"{ecosystem} {name}: {error}", file=sys.stderr)
            return []

    with ThreadPoolExecutor(8) as pool:
        found = [v for versions in pool.map(one, names) for v in versions]
    distinct = sorted(set(v for v in found if v and "\n" not in v))
    (HERE / f"{ecosystem}.versions").write_text("".join(f"{v}\n" for v in distinct))
    print(f"{ecosystem}: {len(names)} packages, {len(found)} versions, {len(distinct)} distinct")


if __name__ == "__main__":
    for ecosystem in sys.argv[1:] or ECOSYSTEMS:
        fetch(ecosystem)
