// The Kubernetes deployment in deploy/, checked without a cluster: each overlay is rendered with
// `kubectl kustomize`, every object is validated against the Kubernetes API's schemas (the
// OpenAPI schemas compiled into kubernetes-models, plus a strict check for fields the API does
// not know), and the policies that keep Keyledger safe to run are asserted on the result.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { KeyledgerService } from '@keyledger/config';
import {
  LEGACY_APP_ROLE,
  SERVICE_DATABASE_ROLES,
  SERVICE_DATABASE_URL_VARIABLES,
  auditorEnvSchema,
  issuerEnvSchema,
  keyServiceEnvSchema,
  migrateEnvSchema,
  rotatorEnvSchema,
} from '@keyledger/config';
import { DATABASE_GRANTS } from '@keyledger/migrations';
import { PROGRAM_ROLES, newOperatorSeeds, newUserSeed, servicePermissions, userCreds } from '@keyledger/nats-auth';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const OVERLAYS = ['dev', 'prod'] as const;
const SECRET_NAME = 'keyledger-secrets';
const SERVICE_DATABASE_URLS = Object.values(SERVICE_DATABASE_URL_VARIABLES) as string[];
/** Settings that are secrets: only ever read from a Secret, never written in a manifest. */
const SECRET_SETTINGS = [
  'KEYLEDGER_HASH_PEPPERS',
  'KEYLEDGER_EVENT_KEYS',
  'KEYLEDGER_DELIVERY_SIGNING_KEYS',
  'KEYLEDGER_AUDIT_SIGNING_KEY',
  'KEYLEDGER_BOOTSTRAP_ADMIN_KEY',
  'DATABASE_URL',
  'DATABASE_MIGRATION_URL',
  'KEYLEDGER_ADMIN_KEY',
  ...SERVICE_DATABASE_URLS,
];
/** The Secret holding a service's own database login: its DATABASE_URL, under that key. */
const databaseSecretOf = (service: string) => `keyledger-db-${service}`;
/** Environment variables a container may set besides the settings of docs/configuration.md. */
const RUNTIME_ENV = ['NODE_OPTIONS', 'DATABASE_MIGRATION_URL'];
const GRPC_PORTS: Record<string, number> = { issuer: 50051, verifier: 50052, auditor: 50054 };
const APPLY_FIRST = 'keyledger.io/apply-first';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface PodTemplateOwner {
  kind: 'Deployment' | 'Job';
  name: string;
  labels: Record<string, string>;
  pod: IPodSpec;
}

/** The six services and their HTTP ports, as `npm start` runs them (tools/services.mjs). */
function servicePorts(): Map<string, number> {
  const source = readFileSync(join(ROOT, 'tools/services.mjs'), 'utf8');
  const ports = new Map([...source.matchAll(/name: '([a-z-]+)', port: (\d+)/g)].map(([, name, port]) => [name!, Number(port)]));
  expect(ports.size).toBe(6);
  return ports;
}

function kubectl(args: string[]): string {
  const result = spawnSync('kubectl', args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.error && 'code' in result.error && result.error.code === 'ENOENT') {
    throw new Error(
      'kubectl is not installed (or not on PATH): these tests render deploy/kustomize with `kubectl kustomize`. ' +
        'Install kubectl 1.27 or later (Debian/Ubuntu: apt-get install kubectl from the Kubernetes or Google Cloud apt repository).',
    );
  }
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited with ${result.status}:\n${result.stderr}`);
  return result.stdout;
}

function parseYamlStream(text: string, source: string): KubeObject[] {
  return parseAllDocuments(text).flatMap((document): KubeObject[] => {
    if (document.errors.length > 0) throw new Error(`${source} is not valid YAML: ${document.errors.map((error) => error.message).join('; ')}`);
    const value: unknown = document.toJSON();
    return value === null ? [] : [value as KubeObject];
  });
}

function render(overlay: string): KubeObject[] {
  return parseYamlStream(kubectl(['kustomize', `deploy/kustomize/overlays/${overlay}`]), `kubectl kustomize deploy/kustomize/overlays/${overlay}`);
}

const describeObject = (object: KubeObject): string => `${object.kind}/${object.metadata?.name ?? '<no name>'}`;

/** Validates against the API's OpenAPI schema (types, formats, enums, required fields). */
async function schemaErrors(object: KubeObject): Promise<string[]> {
  let module: Record<string, unknown>;
  try {
    module = (await import(`kubernetes-models/${object.apiVersion}/${object.kind}`)) as Record<string, unknown>;
  } catch (error) {
    return [`${describeObject(object)}: no Kubernetes schema for ${object.apiVersion} ${object.kind} (${String(error)})`];
  }
  const Model = module[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
  if (!Model) return [`${describeObject(object)}: no Kubernetes schema for ${object.apiVersion} ${object.kind}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [`${describeObject(object)}: ${error instanceof Error ? error.message : String(error)}`];
  }
}

/**
 * Fields the API does not know. The OpenAPI schemas allow any extra field (as the API server
 * does, dropping them with a warning), so a misspelt `readinesProbe` would pass them: this
 * type-checks every object as an object literal of its kubernetes-models interface, where
 * TypeScript refuses unknown properties at every depth.
 */
function unknownFieldErrors(objects: KubeObject[]): string[] {
  const file = join(ROOT, 'test', '__rendered_manifests__.ts');
  const imports = objects.map((object, i) => `import type { I${object.kind} as T${i} } from 'kubernetes-models/${object.apiVersion}/${object.kind}';`);
  const source = [...imports, ...objects.map((object, i) => `export const o${i}: T${i} = ${JSON.stringify(object)};`)].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2022.d.ts'],
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === file ? ts.createSourceFile(name, source, languageVersion) : getSourceFile.call(host, name, languageVersion, ...rest);
  host.fileExists = (name) => name === file || fileExists.call(host, name);
  host.readFile = (name) => (name === file ? source : readFile.call(host, name));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    if (diagnostic.file?.fileName !== file || diagnostic.start === undefined) return message;
    const line = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line - imports.length;
    const object = objects[line];
    return `${object ? describeObject(object) : `line ${line}`}: ${message}`;
  });
}

function podTemplates(objects: KubeObject[]): PodTemplateOwner[] {
  return objects.flatMap((object): PodTemplateOwner[] => {
    if (object.kind !== 'Deployment' && object.kind !== 'Job') return [];
    const template = (object as unknown as IDeployment | IJob).spec!.template;
    return [{ kind: object.kind, name: object.metadata.name, labels: template.metadata?.labels ?? {}, pod: template.spec! }];
  });
}

const containersOf = (pod: IPodSpec): IContainer[] => [...(pod.initContainers ?? []), ...pod.containers];
const ofKind = <T>(objects: KubeObject[], kind: string): (T & KubeObject)[] => objects.filter((object) => object.kind === kind) as (T & KubeObject)[];

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value);
}

function cpuCores(quantity: string | number): number {
  const text = String(quantity);
  return text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
}

function bytes(quantity: string | number): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(String(quantity));
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const units: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(match[1]) * (match[2] ? units[match[2]]! : 1);
}

function envValue(container: IContainer, name: string): string | undefined {
  return container.env?.find((variable) => variable.name === name)?.value;
}

function containerPort(container: IContainer, port: string | number | undefined): number | undefined {
  return typeof port === 'number' ? port : container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

function configMapOf(objects: KubeObject[]): IConfigMap & KubeObject {
  const configMaps = ofKind<IConfigMap>(objects, 'ConfigMap');
  expect(configMaps).toHaveLength(1);
  return configMaps[0]!;
}

describe('the Kubernetes deployment (deploy/kustomize)', () => {
  const ports = servicePorts();

  describe.each(OVERLAYS)('the %s overlay', (overlay) => {
    let objects: KubeObject[];
    let pods: PodTemplateOwner[];
    let deployments: (IDeployment & KubeObject)[];

    beforeAll(() => {
      objects = render(overlay);
      pods = podTemplates(objects);
      deployments = ofKind<IDeployment>(objects, 'Deployment');
    });

    it('renders objects that all match the Kubernetes API schemas, with no field the API does not know', async () => {
      expect(objects.length).toBeGreaterThan(20);
      // One at a time: Jest's ESM loader can fail to link modules imported concurrently.
      const errors: string[] = [];
      for (const object of objects) errors.push(...(await schemaErrors(object)));
      expect(errors).toEqual([]);
      expect(unknownFieldErrors(objects)).toEqual([]);
      // Names must be DNS labels (the OpenAPI schemas do not say so), all in one namespace.
      const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
      expect(objects.filter(({ metadata }) => !dns1123.test(metadata.name) || metadata.name.length > 63).map(describeObject)).toEqual([]);
      expect(objects.filter((object) => object.kind === 'Namespace').map((object) => object.metadata.name)).toEqual(['keyledger']);
      expect(objects.filter((object) => object.kind !== 'Namespace' && object.metadata.namespace !== 'keyledger').map(describeObject)).toEqual([]);
    });

    it('runs each of the six services from one image, with the ports of docs/api.md, and the migration Job', () => {
      expect(deployments.map((deployment) => deployment.metadata.name).sort()).toEqual([...ports.keys()].sort());
      const images = new Set(pods.flatMap(({ pod }) => containersOf(pod).map((container) => container.image)));
      expect(images.size).toBe(1);
      const [image] = [...images];
      expect(image).toMatch(/^[a-z0-9.-]+(:\d+)?\/[a-z0-9/._-]+(:[\w.-]+|@sha256:[a-f0-9]{64})$/);
      expect(image).not.toMatch(/:latest$/);
      for (const { kind, name, pod } of pods) {
        const [container] = pod.containers;
        expect([kind, name, pod.containers.length, container!.args]).toEqual([kind, name, 1, [name]]);
        if (kind === 'Job') continue;
        expect([name, envValue(container!, 'HTTP_PORT'), containerPort(container!, 'http')]).toEqual([name, String(ports.get(name)), ports.get(name)]);
        const grpc = GRPC_PORTS[name];
        expect([name, envValue(container!, 'GRPC_PORT'), containerPort(container!, 'grpc')]).toEqual(
          grpc ? [name, String(grpc), grpc] : [name, undefined, undefined],
        );
      }
      expect(pods.filter(({ kind }) => kind === 'Job').map(({ name }) => name)).toEqual(['migrate']);
    });

    it('runs every container as a non-root user on a read-only root filesystem, without privileges or capabilities', () => {
      for (const { name, pod } of pods) {
        expect([name, pod.automountServiceAccountToken, pod.hostNetwork ?? false, pod.hostPID ?? false]).toEqual([name, false, false, false]);
        for (const container of containersOf(pod)) {
          const context = container.securityContext ?? {};
          const effective = {
            container: container.name,
            runAsNonRoot: context.runAsNonRoot ?? pod.securityContext?.runAsNonRoot,
            rootUser: (context.runAsUser ?? pod.securityContext?.runAsUser) === 0,
            readOnlyRootFilesystem: context.readOnlyRootFilesystem,
            allowPrivilegeEscalation: context.allowPrivilegeEscalation,
            privileged: context.privileged ?? false,
            dropsAll: context.capabilities?.drop?.includes('ALL') ?? false,
            adds: context.capabilities?.add ?? [],
            seccomp: (context.seccompProfile ?? pod.securityContext?.seccompProfile)?.type,
          };
          expect(effective).toEqual({
            container: container.name,
            runAsNonRoot: true,
            rootUser: false,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            privileged: false,
            dropsAll: true,
            adds: [],
            seccomp: 'RuntimeDefault',
          });
        }
      }
    });

    it('probes every service on its health endpoints and gives every container resource requests within its limits', () => {
      const httpGet = (container: IContainer, probe: IProbe | undefined) =>
        probe?.httpGet ? { path: probe.httpGet.path, port: containerPort(container, probe.httpGet.port) } : undefined;
      for (const { kind, name, pod } of pods) {
        for (const container of containersOf(pod)) {
          const { requests = {}, limits = {} } = container.resources ?? {};
          expect([name, Object.keys(requests).sort(), Object.keys(limits).sort()]).toEqual([name, ['cpu', 'memory'], ['cpu', 'memory']]);
          expect([name, cpuCores(requests['cpu']!) <= cpuCores(limits['cpu']!), bytes(requests['memory']!) <= bytes(limits['memory']!)]).toEqual([
            name,
            true,
            true,
          ]);
          // The V8 heap (old space and both semi-spaces of the young generation, 16 MiB each by
          // default) must fit in the container, or the kernel kills the process before V8 collects.
          const nodeOptions = envValue(container, 'NODE_OPTIONS') ?? '';
          const heap = /--max-old-space-size=(\d+)/.exec(nodeOptions)?.[1];
          const semiSpace = Number(/--max-semi-space-size=(\d+)/.exec(nodeOptions)?.[1] ?? 16);
          if (heap) expect([name, (Number(heap) + 2 * semiSpace) * 2 ** 20 < bytes(limits['memory']!) * 0.9]).toEqual([name, true]);
          if (kind === 'Job') continue;
          const http = ports.get(name);
          expect({
            name,
            live: httpGet(container, container.livenessProbe),
            ready: httpGet(container, container.readinessProbe),
            startup: httpGet(container, container.startupProbe),
          }).toEqual({
            name,
            live: { path: '/health/live', port: http },
            ready: { path: '/health/ready', port: http },
            startup: { path: '/health/live', port: http },
          });
          // A readiness check waits up to 2 s for each dependency: the probe must wait longer.
          expect([name, (container.readinessProbe!.timeoutSeconds ?? 1) > 2]).toEqual([name, true]);
        }
      }
    });

    it("references every secret from the keyledger-secrets Secret, or a service's database login from its own, and never writes a secret value", () => {
      expect(objects.filter((object) => object.kind === 'Secret')).toEqual([]);
      const configMap = configMapOf(objects);
      expect(Object.keys(configMap.data ?? {}).filter((key) => SECRET_SETTINGS.includes(key))).toEqual([]);
      const credential = /postgres(ql)?:\/\/[^\s/@]*:[^\s/@]+@|\b\d+:[A-Za-z0-9+/]{40,}={0,2}/;
      for (const value of Object.values(configMap.data ?? {})) expect(value).not.toMatch(credential);
      const secretsOf = new Map<string, string[]>();
      for (const { name, pod } of pods) {
        for (const container of containersOf(pod)) {
          expect([name, container.envFrom?.filter((source) => !source.configMapRef) ?? []]).toEqual([name, []]);
          for (const variable of container.env ?? []) {
            if (variable.value !== undefined) expect([name, variable.name, credential.test(variable.value)]).toEqual([name, variable.name, false]);
            if (SECRET_SETTINGS.includes(variable.name)) {
              // DATABASE_URL_<SERVICE> (the migration) is that service's DATABASE_URL, from its Secret.
              const service = Object.entries(SERVICE_DATABASE_URL_VARIABLES).find(([, urlVariable]) => urlVariable === variable.name)?.[0];
              const [secret, key] = variable.name === 'DATABASE_URL' ? [databaseSecretOf(name), 'DATABASE_URL'] : service ? [databaseSecretOf(service), 'DATABASE_URL'] : [SECRET_NAME, variable.name];
              expect([name, variable.name, variable.value, variable.valueFrom?.secretKeyRef?.name, variable.valueFrom?.secretKeyRef?.key]).toEqual([
                name,
                variable.name,
                undefined,
                secret,
                key,
              ]);
            }
          }
          secretsOf.set(
            name,
            (container.env ?? [])
              .filter((variable) => variable.valueFrom?.secretKeyRef)
              .map((variable) => variable.name)
              .sort(),
          );
        }
      }
      // Each program gets the secrets it needs and no others: only the migration sees the owner's
      // URL, and the services' URLs, whose logins it makes.
      expect(Object.fromEntries(secretsOf)).toEqual({
        issuer: ['DATABASE_URL', 'KEYLEDGER_BOOTSTRAP_ADMIN_KEY', 'KEYLEDGER_DELIVERY_SIGNING_KEYS', 'KEYLEDGER_EVENT_KEYS', 'KEYLEDGER_HASH_PEPPERS'],
        verifier: ['DATABASE_URL', 'KEYLEDGER_EVENT_KEYS', 'KEYLEDGER_HASH_PEPPERS'],
        rotator: ['DATABASE_URL', 'KEYLEDGER_DELIVERY_SIGNING_KEYS', 'KEYLEDGER_EVENT_KEYS', 'KEYLEDGER_HASH_PEPPERS'],
        auditor: ['DATABASE_URL', 'KEYLEDGER_AUDIT_SIGNING_KEY', 'KEYLEDGER_EVENT_KEYS', 'KEYLEDGER_HASH_PEPPERS'],
        'anomaly-detector': ['DATABASE_URL', 'KEYLEDGER_EVENT_KEYS'],
        relay: ['DATABASE_URL', 'KEYLEDGER_EVENT_KEYS'],
        migrate: ['DATABASE_MIGRATION_URL', ...SERVICE_DATABASE_URLS].sort(),
      });
    });

    it("gives each service its own database login, which the migration makes a member of that service's role only: no two share one, and the verifier's appends no key event", () => {
      const secretRef = (pod: IPodSpec, variable: string) => {
        const ref = pod.containers[0]!.env?.find((candidate) => candidate.name === variable)?.valueFrom?.secretKeyRef;
        return ref && { name: ref.name, key: ref.key };
      };
      const loginOf = new Map(deployments.map((deployment) => [deployment.metadata.name, secretRef(deployment.spec!.template.spec!, 'DATABASE_URL')]));
      for (const [service, login] of loginOf) expect([service, login]).toEqual([service, { name: databaseSecretOf(service), key: 'DATABASE_URL' }]);
      expect(new Set([...loginOf.values()].map((login) => login?.name)).size).toBe(loginOf.size);
      // The migration makes, for each service's role, the login of that service's own Secret.
      const migrate = pods.find(({ kind }) => kind === 'Job')!.pod;
      for (const [service, variable] of Object.entries(SERVICE_DATABASE_URL_VARIABLES) as [KeyledgerService, string][]) {
        expect([service, secretRef(migrate, variable)]).toEqual([service, loginOf.get(service)]);
      }
      expect(secretRef(migrate, 'DATABASE_MIGRATION_URL')).toEqual({ name: SECRET_NAME, key: 'DATABASE_MIGRATION_URL' });
      // Nothing tells a service to assume a role other than its own.
      const configMap = configMapOf(objects);
      for (const { name, pod } of pods) {
        const settings = [...Object.keys(configMap.data ?? {}), ...(pod.containers[0]!.env ?? []).map((variable) => variable.name)];
        expect([name, settings.filter((setting) => setting === 'DATABASE_ROLE' || setting === 'DATABASE_APP_ROLE')]).toEqual([name, []]);
      }
      // The verifier's login is no key writer's: no other service reads its Secret, and its role appends only credits.
      const verifierSecret = loginOf.get('verifier')!.name;
      const readers = pods.filter(({ pod }) => containersOf(pod).some((container) => container.env?.some((variable) => variable.valueFrom?.secretKeyRef?.name === verifierSecret)));
      expect(readers.map(({ name }) => name).sort()).toEqual(['migrate', 'verifier']);
      expect(DATABASE_GRANTS.verifier.appends).toEqual(['credits']);
      expect(SERVICE_DATABASE_ROLES.verifier).toBe('keyledger_verifier');
    });

    it("mounts each program's own NATS user (each service's, the migrate job's) from its Secret keyledger-nats-<program>, at the path NATS_CREDS names", () => {
      expect(pods.map(({ name }) => name).sort()).toEqual([...PROGRAM_ROLES].sort());
      for (const { name, pod } of pods) {
        const container = pod.containers[0]!;
        const creds = container.env?.find((variable) => variable.name === 'NATS_CREDS')?.value;
        const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === dirname(creds ?? '/'));
        const volume = pod.volumes?.find((candidate) => candidate.name === mount?.name);
        expect([name, creds, mount?.readOnly, volume?.secret?.secretName, volume?.secret?.optional]).toEqual([
          name,
          '/etc/keyledger/nats/user.creds',
          true,
          `keyledger-nats-${name}`,
          undefined,
        ]);
      }
    });

    it('configures every program with settings its configuration schema accepts', async () => {
      // A pod reads its creds from its Secret's volume; here, a creds file of the same shape stands in.
      const credsFile = join(mkdtempSync(join(tmpdir(), 'keyledger-deploy-')), 'user.creds');
      writeFileSync(
        credsFile,
        await userCreds(
          newOperatorSeeds(),
          'relay',
          newUserSeed(),
          servicePermissions('relay', {
            subjectPrefix: 'keyledger',
            eventStream: 'E',
            deadLetterStream: 'D',
            usageStream: 'U',
            deliveryStream: 'V',
            notificationStream: 'N',
          }),
        ),
      );
      const configMap = configMapOf(objects);
      const known = Object.keys(keyServiceEnvSchema.shape);
      expect(Object.keys(configMap.data ?? {}).filter((key) => !known.includes(key))).toEqual([]);
      // The programs that sign key deliveries, and the auditor (checkpoints), read more settings than the others; the migration Job its own.
      const schemaOf = (program: string) =>
        program === 'rotator' ? rotatorEnvSchema : program === 'issuer' ? issuerEnvSchema : program === 'auditor' ? auditorEnvSchema : keyServiceEnvSchema;
      for (const { kind, name, pod } of pods) {
        const schema = schemaOf(name);
        const knownHere = kind === 'Job' ? [...known, ...Object.keys(migrateEnvSchema.shape)] : Object.keys(schema.shape);
        for (const container of containersOf(pod)) {
          expect([name, container.envFrom?.map((source) => source.configMapRef?.name)]).toEqual([name, [configMap.metadata.name]]);
          const unknown = (container.env ?? [])
            .map((variable) => variable.name)
            .filter((variable) => !knownHere.includes(variable) && !RUNTIME_ENV.includes(variable));
          expect([name, unknown]).toEqual([name, []]);
          const environment = {
            ...configMap.data,
            ...Object.fromEntries((container.env ?? []).filter((variable) => variable.value !== undefined).map((variable) => [variable.name, variable.value])),
            DATABASE_URL: `postgres://keyledger_${name.replace('-', '_')}_login:secret@postgres:5432/keyledger`,
            KEYLEDGER_HASH_PEPPERS: `1:${Buffer.alloc(32, 7).toString('base64')}`,
            ...(container.env?.some((variable) => variable.name === 'NATS_CREDS') ? { NATS_CREDS: credsFile } : {}),
            KEYLEDGER_EVENT_KEYS: `1:${Buffer.alloc(32, 8).toString('base64')}`,
            KEYLEDGER_DELIVERY_SIGNING_KEYS: `1:${Buffer.alloc(32, 9).toString('base64')}`,
            KEYLEDGER_AUDIT_SIGNING_KEY: `PRIVATE+KEY+keyledger.example/audit+0a1b2c3d+${Buffer.concat([Buffer.from([1]), Buffer.alloc(32, 6)]).toString('base64')}`,
          };
          const parsed = schema.safeParse(environment);
          expect([name, parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)]).toEqual([name, []]);
        }
      }
    });

    it('gives every program its own service account, without an API token', () => {
      const accounts = new Map(ofKind<IServiceAccount>(objects, 'ServiceAccount').map((account) => [account.metadata.name, account]));
      for (const { name, pod } of pods) {
        expect([name, pod.serviceAccountName]).toEqual([name, name]);
        expect([name, accounts.get(name)?.automountServiceAccountToken]).toEqual([name, false]);
      }
    });

    it("denies all traffic by default and allows only DNS, Postgres, NATS, labelled clients of the verifier, the issuer and the auditor, and the rotator's webhooks", () => {
      const policies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
      const selects = (policy: INetworkPolicy, labels: Record<string, string>) =>
        matches(policy.spec!.podSelector.matchLabels, labels) && !policy.spec!.podSelector.matchExpressions;
      const defaultDeny = policies.filter(
        ({ spec }) =>
          Object.keys(spec!.podSelector).length === 0 &&
          [...(spec!.policyTypes ?? [])].sort().join() === 'Egress,Ingress' &&
          !spec!.ingress?.length &&
          !spec!.egress?.length,
      );
      expect(defaultDeny).toHaveLength(1);
      for (const policy of policies) {
        for (const rule of policy.spec!.ingress ?? []) {
          // No ingress from everywhere: each source is a pod selector on a label.
          expect([
            policy.metadata.name,
            rule.from?.length ? rule.from.every((peer) => Object.keys(peer.podSelector?.matchLabels ?? {}).length > 0) : false,
          ]).toEqual([policy.metadata.name, true]);
        }
        for (const rule of policy.spec!.egress ?? []) {
          expect([policy.metadata.name, (rule.to?.length ?? 0) > 0 && (rule.ports?.length ?? 0) > 0]).toEqual([policy.metadata.name, true]);
        }
      }
      const egressPorts = (labels: Record<string, string>) =>
        policies
          .filter((policy) => selects(policy, labels))
          .flatMap((policy) => policy.spec!.egress ?? [])
          .flatMap((rule) => (rule.ports ?? []).map((port) => `${port.protocol ?? 'TCP'}/${port.port}`))
          .sort();
      const ingressPorts = (labels: Record<string, string>) =>
        policies
          .filter((policy) => selects(policy, labels))
          .flatMap((policy) => policy.spec!.ingress ?? [])
          .flatMap((rule) => (rule.ports ?? []).map((port) => port.port))
          .sort();
      for (const { name, labels } of pods) {
        // The rotator also reaches owners' webhooks (HTTPS, public addresses only: below).
        const webhooks = name === 'rotator' ? ['TCP/443'] : [];
        expect([name, egressPorts(labels)]).toEqual([name, ['TCP/4222', ...webhooks, 'TCP/53', 'TCP/5432', 'UDP/53']]);
        const expected = { verifier: [3002, 50052], issuer: [50051], auditor: [50054] }[name] ?? [];
        expect([name, ingressPorts(labels)]).toEqual([name, expected]);
      }
      const clientLabel = (service: string) =>
        policies
          .filter((policy) => selects(policy, { 'app.kubernetes.io/name': service }))
          .flatMap((policy) => policy.spec!.ingress ?? [])
          .flatMap((rule) => rule.from ?? [])
          .map((peer) => peer.podSelector?.matchLabels);
      expect(clientLabel('verifier')).toEqual([{ 'keyledger.io/verifier-client': 'true' }]);
      expect(clientLabel('issuer')).toEqual([{ 'keyledger.io/issuer-client': 'true' }]);
      expect(clientLabel('auditor')).toEqual([{ 'keyledger.io/usage-client': 'true' }]);
      // Webhooks only to public addresses: a webhook URL cannot reach the cluster, the node or a
      // cloud metadata endpoint.
      const webhookPeers = policies
        .filter((policy) => selects(policy, { 'app.kubernetes.io/name': 'rotator' }))
        .flatMap((policy) => policy.spec!.egress ?? [])
        .filter((rule) => rule.ports?.some((port) => port.port === 443))
        .flatMap((rule) => rule.to ?? []);
      expect(webhookPeers.map((peer) => peer.ipBlock?.cidr)).toEqual(['0.0.0.0/0', '::/0']);
      const excluded = webhookPeers.flatMap((peer) => peer.ipBlock?.except ?? []);
      for (const internal of ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '169.254.0.0/16', '127.0.0.0/8', 'fc00::/7', 'fe80::/10', '::1/128'])
        expect(excluded).toContain(internal);
    });

    it('scales the verifier on CPU with a HorizontalPodAutoscaler that owns its replica count', () => {
      const autoscalers = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
      expect(autoscalers.map((hpa) => [hpa.apiVersion, hpa.spec!.scaleTargetRef])).toEqual([
        ['autoscaling/v2', { apiVersion: 'apps/v1', kind: 'Deployment', name: 'verifier' }],
      ]);
      const { minReplicas = 1, maxReplicas, metrics } = autoscalers[0]!.spec!;
      expect(minReplicas).toBeGreaterThanOrEqual(overlay === 'prod' ? 3 : 1);
      expect(maxReplicas).toBeGreaterThan(minReplicas);
      expect(metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: expect.any(Number) } } }]);
      expect(deployments.find((deployment) => deployment.metadata.name === 'verifier')!.spec!.replicas).toBeUndefined();
    });

    it('covers every service with a disruption budget and selects existing pods and ports from every Service', () => {
      const budgets = ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
      for (const deployment of deployments) {
        const labels = deployment.spec!.template.metadata!.labels!;
        const covering = budgets.filter((budget) => matches(budget.spec!.selector?.matchLabels, labels));
        expect([deployment.metadata.name, covering.length, covering[0]?.spec?.maxUnavailable]).toEqual([deployment.metadata.name, 1, 1]);
      }
      for (const service of ofKind<IService>(objects, 'Service')) {
        const selected = deployments.filter((deployment) => matches(service.spec!.selector, deployment.spec!.template.metadata!.labels!));
        expect([service.metadata.name, selected.length]).toEqual([service.metadata.name, 1]);
        const container = selected[0]!.spec!.template.spec!.containers[0]!;
        for (const port of service.spec!.ports ?? []) {
          expect([service.metadata.name, port.port, containerPort(container, port.targetPort)]).toEqual([service.metadata.name, port.port, port.port]);
        }
      }
    });

    it('runs enough replicas: two relays in production so that a standby can take over', () => {
      const replicas = (name: string) => deployments.find((deployment) => deployment.metadata.name === name)!.spec!.replicas ?? 1;
      expect(replicas('relay')).toBeGreaterThanOrEqual(overlay === 'prod' ? 2 : 1);
      if (overlay === 'prod') expect(replicas('issuer')).toBeGreaterThanOrEqual(2);
    });

    it('labels what the migration Job needs to be applied, and awaited, before the services', () => {
      const first = objects.filter((object) => object.metadata.labels?.[APPLY_FIRST] === 'true');
      const kinds = new Set(first.map((object) => object.kind));
      expect([...kinds].sort()).toEqual(['ConfigMap', 'Job', 'Namespace', 'NetworkPolicy', 'ServiceAccount']);
      const job = ofKind<IJob>(first, 'Job');
      expect(job.map((object) => object.metadata.name)).toEqual(['migrate']);
      const pod = job[0]!.spec!.template.spec!;
      const names = (kind: string) => first.filter((object) => object.kind === kind).map((object) => object.metadata.name);
      expect(names('ServiceAccount')).toContain(pod.serviceAccountName);
      expect(names('ConfigMap')).toEqual(pod.containers.flatMap((container) => container.envFrom ?? []).map((source) => source.configMapRef?.name));
      expect(names('NetworkPolicy').sort()).toEqual(
        ofKind<INetworkPolicy>(objects, 'NetworkPolicy')
          .map((policy) => policy.metadata.name)
          .sort(),
      );
      expect(job[0]!.spec!.template.spec!.restartPolicy).toBe('Never');
      expect(job[0]!.spec!.ttlSecondsAfterFinished).toBeGreaterThan(0);
    });
  });

  it('replicates the event streams on the three servers of the production NATS cluster, and on the one of development', () => {
    expect(configMapOf(render('prod')).data!['KEYLEDGER_STREAM_REPLICAS']).toBe('3');
    expect(configMapOf(render('dev')).data!['KEYLEDGER_STREAM_REPLICAS']).toBe('1');
  });
});

describe('the data services (deploy/postgres, deploy/nats)', () => {
  let networkPolicies: (INetworkPolicy & KubeObject)[];
  let configMap: IConfigMap;

  beforeAll(() => {
    const objects = render('prod');
    networkPolicies = ofKind<INetworkPolicy>(objects, 'NetworkPolicy');
    configMap = configMapOf(objects);
  });

  /** The namespace and pod labels the services' egress policy allows on a port. */
  function egressPeer(port: number): { namespace?: string; pods?: Record<string, string> } {
    const rules = networkPolicies.flatMap((policy) => policy.spec!.egress ?? []).filter((rule) => rule.ports?.some((candidate) => candidate.port === port));
    expect(rules).toHaveLength(1);
    const peer = rules[0]!.to![0]!;
    return { namespace: peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'], pods: peer.podSelector?.matchLabels };
  }

  it('describes a three-instance CloudNativePG cluster that bootstraps the keyledger database, its owner and the services roles', () => {
    // A custom resource: the core schemas do not cover it, so its required fields are checked here.
    const file = join(ROOT, 'deploy/postgres/cluster.yaml');
    const documents = parseYamlStream(readFileSync(file, 'utf8'), file);
    expect(documents.map((document) => [document.apiVersion, document.kind])).toEqual([['postgresql.cnpg.io/v1', 'Cluster']]);
    const cluster = documents[0]! as KubeObject & {
      spec: {
        instances: number;
        storage: { size: string };
        bootstrap: { initdb: { database: string; owner: string; postInitApplicationSQL?: string[] } };
        postgresql?: { synchronous?: { method: string; number: number } };
        managed?: { roles: { name: string; login?: boolean; inRoles?: string[]; passwordSecret?: { name: string }; password?: unknown }[] };
      };
    };
    const { spec } = cluster;
    expect(spec.instances).toBe(3);
    expect(bytes(spec.storage.size)).toBeGreaterThan(0);
    expect(spec.bootstrap.initdb).toMatchObject({ database: 'keyledger', owner: expect.stringMatching(/^[a-z_][a-z0-9_]*$/) });
    expect(spec.postgresql?.synchronous?.number).toBeGreaterThanOrEqual(1);
    expect(['any', 'first']).toContain(spec.postgresql?.synchronous?.method);
    // The network policy lets the services reach exactly this cluster's pods.
    expect(egressPeer(5432)).toEqual({ namespace: cluster.metadata.namespace, pods: { 'cnpg.io/cluster': cluster.metadata.name } });
    // Each service assumes its own role (DATABASE_APP_ROLE unset) with its own login, which the
    // migrate job makes, as the owner, from the service's Secret: the cluster manages no login
    // (a shared one could act as every service), and the owner may create roles.
    expect(configMap.data!['DATABASE_APP_ROLE']).toBeUndefined();
    const postInit = spec.bootstrap.initdb.postInitApplicationSQL?.map((statement) => statement.toLowerCase()) ?? [];
    expect(postInit).toContain(`alter role ${spec.bootstrap.initdb.owner} createrole`);
    expect(postInit.filter((statement) => statement.includes(LEGACY_APP_ROLE) || / login/.test(statement))).toEqual([]);
    const logins = (spec.managed?.roles ?? []).filter((role) => role.login || role.inRoles?.length);
    expect(logins).toEqual([]);
    // Backups are explained, with the ObjectStore they would reference.
    expect(readFileSync(file, 'utf8')).toMatch(/kind: ObjectStore[\s\S]*barmanObjectName: keyledger-backups/);
  });

  it('configures the official NATS chart for a three-node JetStream cluster on file storage', () => {
    const file = join(ROOT, 'deploy/nats/values.yaml');
    const text = readFileSync(file, 'utf8');
    const values = parse(text) as {
      config: {
        cluster: { enabled: boolean; replicas: number };
        jetstream: { enabled: boolean; fileStore: { enabled: boolean; pvc: { enabled: boolean; size: string } }; memoryStore?: { enabled: boolean } };
      };
    };
    expect(values.config.cluster).toMatchObject({ enabled: true, replicas: 3 });
    expect(values.config.jetstream).toMatchObject({ enabled: true, fileStore: { enabled: true, pvc: { enabled: true } } });
    expect(bytes(values.config.jetstream.fileStore.pvc.size)).toBeGreaterThan(0);
    expect(values.config.jetstream.memoryStore?.enabled ?? false).toBe(false);
    expect(text).toContain('KEYLEDGER_STREAM_REPLICAS=3');
    expect(Number(configMap.data!['KEYLEDGER_STREAM_REPLICAS'])).toBe(values.config.cluster.replicas);
    // Release `nats` in keyledger-nats: the URL the services use and the pods they may reach.
    expect(configMap.data!['NATS_URL']).toBe('nats://nats.keyledger-nats.svc:4222');
    expect(egressPeer(4222)).toEqual({ namespace: 'keyledger-nats', pods: { 'app.kubernetes.io/name': 'nats' } });
  });
});

describe('the container image (deploy/Dockerfile)', () => {
  const dockerfile = readFileSync(join(ROOT, 'deploy/Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: string[][] = [];
  for (const line of instructions) {
    if (line.startsWith('FROM ')) stages.push([line]);
    else stages[stages.length - 1]?.push(line);
  }

  it('builds in stages and runs production dependencies only, as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const runtime = stages[stages.length - 1]!;
    expect(runtime[0]).toMatch(/^FROM \$\{RUNTIME_IMAGE\} AS runtime$/);
    expect(dockerfile).toMatch(/ARG RUNTIME_IMAGE=gcr\.io\/distroless\/nodejs20-debian12:nonroot/);
    expect(runtime).toContainEqual(expect.stringMatching(/^USER [1-9]\d*:[1-9]\d*$/));
    const depsStage = stages.find((stage) => stage[0]!.endsWith(' AS prod-deps'))!;
    expect(depsStage.join('\n')).toMatch(/npm ci --omit=dev --omit=optional/);
    expect(runtime).toContain('COPY --from=prod-deps /src/node_modules ./node_modules');
    expect(runtime).toContain('COPY --from=build /src/dist ./dist');
    // ESM needs package.json's "type"; gRPC needs the proto files at run time.
    expect(runtime).toContain('COPY package.json ./');
    expect(runtime).toContain('COPY libs/contracts/proto ./libs/contracts/proto');
    expect(runtime).toContainEqual(expect.stringMatching(/^ENTRYPOINT \[.*"\/app\/deploy\/entrypoint\.mjs"\]$/));
  });

  it('sends the build everything it copies from the context', () => {
    const ignore = readFileSync(join(ROOT, 'deploy/Dockerfile.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const included = ignore.filter((line) => line.startsWith('!')).map((line) => line.slice(1));
    const sources = instructions
      .filter((line) => line.startsWith('COPY ') && !line.includes('--from='))
      .flatMap((line) => line.split(/\s+/).slice(1, -1))
      .filter((source) => !source.startsWith('--'));
    expect(sources.length).toBeGreaterThan(5);
    for (const source of sources) {
      expect([source, existsSync(join(ROOT, source))]).toEqual([source, true]);
      expect([source, included.some((entry) => source === entry || source.startsWith(`${entry}/`))]).toEqual([source, true]);
    }
  });
});

describe('the container entrypoint (deploy/entrypoint.mjs)', () => {
  const entrypoint = join(ROOT, 'deploy/entrypoint.mjs');
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [entrypoint, ...args], { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 30_000 });

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist/services/migrate/main.js'))) throw new Error('dist/ is not built: run `npm run build` (npm test builds it)');
  });

  it('refuses an unknown program and names the ones it runs', () => {
    const result = run(['nope']);
    expect(result.status).toBe(64);
    expect(result.stderr).toContain('no program named "nope"');
    for (const program of [...servicePorts().keys(), 'migrate', 'cli']) expect(result.stderr).toContain(program);
    expect(run([]).status).toBe(64);
  });

  it('runs the program named by its first argument, or by KEYLEDGER_SERVICE', () => {
    for (const result of [run(['migrate']), run([], { KEYLEDGER_SERVICE: 'migrate' })]) {
      // migrate itself answers: it refuses to start without a database URL.
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^migrate: invalid configuration/);
    }
  });

  it('passes the remaining arguments to the program', () => {
    const result = run(['cli', 'help', 'keys']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage: keyledger keys/);
  });
});
