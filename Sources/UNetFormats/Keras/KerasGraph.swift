import Foundation
import UNetCheckpoint

/// The layers of a Keras functional model as its stored config describes them: names, classes,
/// the few arguments a U-Net needs, and which layers feed each one. The config is read as data
/// only; nothing in it is evaluated (Lambda layers are refused by class name).
public struct KerasGraph: Sendable {
    public struct Layer: Sendable {
        public let name: String
        public let className: String
        /// Names of the layers feeding this one, in argument order.
        public let inputs: [String]
        public let config: [String: JSONValue]

        var activation: String? { if case .string(let a)? = config["activation"] { a } else { nil } }
        var padding: String? { if case .string(let p)? = config["padding"] { p } else { nil } }
        var number: (String) -> Double? {
            { key in if case .number(let n)? = config[key] { n } else { nil } }
        }
    }

    /// Layers in the config's order (the order they were created).
    public let layers: [Layer]

    /// Parses a Keras 2 or 3 model config (`model_config` attribute or `config.json`).
    init(json text: String, file: String) throws(FormatError) {
        guard let root = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)),
            case .object(let model) = root, case .object(let config)? = model["config"],
            case .array(let layerList)? = config["layers"]
        else { throw FormatError(.malformed, file: file, "the Keras model config is not a functional model's JSON") }
        var layers: [Layer] = []
        for entry in layerList {
            guard case .object(let layer) = entry, case .string(let className)? = layer["class_name"],
                case .object(let arguments)? = layer["config"]
            else {
                throw FormatError(.malformed, file: file, "a layer of the Keras config has no class_name or config")
            }
            if className == "Lambda" || className == "TFOpLambda" {
                throw FormatError(
                    .refused, file: file, "the model has a \(className) layer, whose config holds code; it is not read")
            }
            var name = ""
            if case .string(let n)? = layer["name"] {
                name = n
            } else if case .string(let n)? = arguments["name"] {
                name = n
            }
            layers.append(
                Layer(
                    name: name, className: className, inputs: Self.inboundNames(layer["inbound_nodes"] ?? .null),
                    config: arguments))
        }
        self.layers = layers
    }

    /// The names of the layers a node list refers to: Keras 3's `keras_history`, or Keras 2's
    /// `[name, node, tensor, kwargs]` lists.
    static func inboundNames(_ value: JSONValue) -> [String] {
        switch value {
        case .object(let object):
            if case .array(let history)? = object["keras_history"], case .string(let name)? = history.first {
                return [name]
            }
            return object.keys.sorted().flatMap { inboundNames(object[$0]!) }
        case .array(let items):
            if items.count >= 3, case .string(let name) = items[0], case .number = items[1] { return [name] }
            return items.flatMap(inboundNames)
        default:
            return []
        }
    }
}
