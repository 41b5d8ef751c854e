/** Endpoints as users write them: "host:port", "[::1]:port" or an http(s) URL. */
import { FlotillaError } from "./errors.js";

/** The base URL for an endpoint, without a trailing slash. Throws FlotillaError invalid_endpoint. */
export function endpointUrl(endpoint: string): string {
  const text = endpoint.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalid(endpoint, "it is not HOST:PORT or a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalid(endpoint, "only http and https are supported");
  if (url.hostname === "") throw invalid(endpoint, "it has no host");
  if (url.port === "" && withScheme !== text) throw invalid(endpoint, "it has no port (write HOST:PORT)");
  if (url.search !== "" || url.hash !== "" || url.username !== "") throw invalid(endpoint, "it may not carry a query, fragment or credentials");
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}`;
}

/** Splits "a:1,b:2" (the CLI's --endpoints) and checks each. */
export function parseEndpointList(list: string): string[] {
  const endpoints = list.split(",").map((part) => part.trim()).filter((part) => part.length > 0);
  if (endpoints.length === 0) throw new FlotillaError(0, "invalid_endpoint", "no endpoint given: write HOST:PORT[,HOST:PORT...]");
  return endpoints.map(endpointUrl);
}

function invalid(endpoint: string, why: string): FlotillaError {
  return new FlotillaError(0, "invalid_endpoint", `endpoint ${JSON.stringify(endpoint)} is not usable: ${why}`);
}
