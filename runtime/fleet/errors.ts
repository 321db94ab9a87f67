/**
 * Errors of fleet control: each is reported in the device's reported state with its `code`.
 *
 * @module
 */
import { KilnError } from "../../errors.ts";

/** A desired state names an image on a registry the manifest's `registries:` does not list. */
export class FleetRegistryUntrustedError extends KilnError {
  readonly code = "registry_untrusted";
  readonly kind = "rejected";
  constructor(module: string, registry: string) {
    super(
      `Module ${module}: the image's registry "${registry}" is not in the manifest's registries: ` +
        "this gateway pulls only from registries it lists",
    );
  }
}

/** A desired state names an image that has no signature attached: the fleet never deploys unsigned code. */
export class FleetUnsignedImageError extends KilnError {
  readonly code = "image_unsigned";
  readonly kind = "rejected";
  constructor(module: string, image: string) {
    super(
      `Module ${module}: image "${image}" has no signature attached; the fleet deploys only signed modules`,
    );
  }
}

/** A desired state document could not be read: not JSON, over its size, or not the protocol's shape. */
export class FleetDesiredInvalidError extends KilnError {
  readonly code = "desired_invalid";
  readonly kind = "invalid";
  constructor(topic: string, reason: string) {
    super(`Desired state on ${topic} refused: ${reason}`);
  }
}
