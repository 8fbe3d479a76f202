import { type Config, ConfigStore, parseSettings, refuseClusterPrefixProblems } from "./load";

/** Every Config field but the service URLs and the settings, which configStoreFor always takes. */
type OtherFields = Omit<Config, "databaseUrl" | "redisUrl" | "settings">;

export type ConfigOverrides = Partial<OtherFields>;

/**
 * What configStoreFor gives a field it is not given: what nearly every test, bench and harness wants, so a new
 * Config field needs a default here and nowhere else.
 */
function defaults(): OtherFields {
  // Fresh arrays each time: no two stores share one.
  return {
    redisClusterNodes: [],
    // Loopback port 0: nothing listens on a fixed port, so runs side by side do not collide.
    grpcAddr: "127.0.0.1:0",
    dashboardAddr: "127.0.0.1:0",
    ingressMetricsPort: undefined,
    listenersFromEnvironment: { grpcAddr: true, dashboardAddr: true, ingressMetricsPort: true },
    dashboardCsrfSecret: undefined,
    apiKeys: [],
    configFile: undefined,
    // The caller's services are in hand and running: nothing is started for it.
    servicesFromEnvironment: true,
    services: "external",
    logLevel: "silent",
  };
}

/**
 * A ConfigStore for code that has its services and settings in hand rather than in the environment (tests,
 * benches, the faults harness, the e2e fleet). `settings` is parsed as a settings file is, so invalid settings
 * throw the same ConfigError; a field not in `overrides` (or given as undefined) takes its default:
 * no cluster nodes, gRPC and dashboard on 127.0.0.1:0, the ingress metrics port of the settings, no CSRF secret, no API keys, no config file,
 * servicesFromEnvironment true, services "external", log level "silent".
 */
export function configStoreFor(
  services: Pick<Config, "databaseUrl" | "redisUrl">,
  settings: unknown,
  overrides: ConfigOverrides = {},
): ConfigStore {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, value]) => value !== undefined));
  const config: Config = {
    ...defaults(),
    ...(given as ConfigOverrides),
    // Only the URLs: `services` is often a whole test context.
    databaseUrl: services.databaseUrl,
    redisUrl: services.redisUrl,
    settings: parseSettings(settings),
  };
  refuseClusterPrefixProblems(config.redisClusterNodes, config.settings, "settings");
  return new ConfigStore(config);
}
