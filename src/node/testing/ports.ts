export { freePort } from "../../util/ports.js";
