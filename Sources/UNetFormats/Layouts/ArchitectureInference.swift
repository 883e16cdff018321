import Foundation
import UNetCheckpoint

/// Infers a ``UNetArchitecture`` of the schema 1.0 families from canonical tensor keys and shapes,
/// completed by the fields that weights cannot tell (padding, norm, activation, down-sampling, skip
/// merge, …) from a layout's definition or a mapping file. Nothing the weights cannot show is
/// defaulted here: a field neither side states stops the conversion, naming it.
enum ArchitectureInference {
    /// - Parameters:
    ///   - shapes: canonical key → shape.
    ///   - known: architecture fields (docs/format.md §3 JSON) that override or complete the inference.
    static func infer(shapes: [String: [Int]], known: [String: JSONValue], file: String?) throws(FormatError)
        -> UNetArchitecture
    {
        func fail(_ message: String) -> FormatError {
            FormatError(.unsupported, file: file, "cannot infer the architecture: \(message)")
        }
        func shape(_ key: String) -> [Int]? { shapes[key] }
        func convWidths(_ prefix: String) -> [Int] {
            var widths: [Int] = []
            while let s = shape("\(prefix).conv\(widths.count).weight"), s.count == 4 { widths.append(s[0]) }
            return widths
        }
        var encoder: [[Int]] = []
        while case let widths = convWidths("encoder.\(encoder.count)"), !widths.isEmpty { encoder.append(widths) }
        guard encoder.count >= 2, let first = shape("encoder.0.conv0.weight"), let out = shape("head.out.weight") else {
            throw fail("no encoder levels, or no head.out.weight")
        }
        let depth = encoder.count - 1
        var object: [String: JSONValue] = [
            "in_channels": .number(Double(first[1])),
            "out_channels": .number(Double(out[0])),
            "encoder": .array(encoder.map { .object(["convs": .array($0.map { .number(Double($0)) })]) }),
            "conv": .object([
                "kernel": .number(Double(first[2])), "bias": .bool(shapes["encoder.0.conv0.bias"] != nil),
            ]),
        ]
        // Decoder levels, from the deepest up, tracking the channels arriving from below.
        var below = encoder[depth].last!
        var decoder = [JSONValue](repeating: .null, count: depth)
        var upsample: [String: JSONValue] = [:]
        for level in stride(from: depth - 1, through: 0, by: -1) {
            let widths = convWidths("decoder.\(level)")
            guard !widths.isEmpty else { throw fail("decoder level \(level) has no convolutions") }
            var up = below
            if let weight = shape("decoder.\(level).up.weight"), weight.count == 4 {
                let transposed = weight[0] == below
                up = transposed ? weight[1] : weight[0]
                upsample["kind"] = upsample["kind"] ?? .string(transposed ? "transposed_conv" : "nearest")
                if transposed {
                    upsample["kernel"] = .number(Double(weight[2]))
                } else {
                    upsample["conv_kernel"] = .number(Double(weight[2]))
                }
                upsample["bias"] = .bool(shapes["decoder.\(level).up.bias"] != nil)
            }
            decoder[level] = .object([
                "up_channels": .number(Double(up)), "convs": .array(widths.map { .number(Double($0)) }),
            ])
            below = widths.last!
        }
        object["decoder"] = .array(decoder)
        if !upsample.isEmpty { object["upsample"] = .object(upsample) }
        var extras: [JSONValue] = []
        while let s = shape("head.conv\(extras.count).weight"), s.count == 4 {
            extras.append(
                .object(["channels": .number(Double(s[0])), "kernel": .number(Double(s[2])), "activation": .bool(true)])
            )
        }
        object["head"] = .object(["convs": .array(extras), "bias": .bool(shapes["head.out.bias"] != nil)])

        let merged = JSONValue.object(object).merging(.object(known))
        do {
            let version1 = try merged.decode(ArchitectureV1.self)
            do throws(ArchitectureError) {
                try version1.validate()
            } catch {
                throw fail(error.problems.joined(separator: "; "))
            }
            return UNetArchitecture(version1)
        } catch let error as FormatError {
            throw error
        } catch let error as DecodingError {
            throw fail("\(error.readablePath) cannot be told from the weights; give it in a mapping file (--map)")
        } catch {
            throw fail("\(error)")
        }
    }
}

extension JSONValue {
    /// A deep merge: objects merge key by key, anything else in `other` replaces this value.
    func merging(_ other: JSONValue) -> JSONValue {
        guard case .object(var base) = self, case .object(let overlay) = other else { return other }
        for (key, value) in overlay { base[key] = base[key].map { $0.merging(value) } ?? value }
        return .object(base)
    }
}

extension DecodingError {
    /// The dotted path of the field the error concerns, e.g. `architecture.skip`.
    var readablePath: String {
        let (context, extra): (Context, CodingKey?) =
            switch self {
            case .keyNotFound(let key, let context): (context, key)
            case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
                (context, nil)
            @unknown default: (Context(codingPath: [], debugDescription: ""), nil)
            }
        let keys = context.codingPath + (extra.map { [$0] } ?? [])
        return (["architecture"] + keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }).joined(separator: ".")
    }
}
