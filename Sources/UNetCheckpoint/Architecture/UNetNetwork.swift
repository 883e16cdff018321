/// A U-Net as an ordered list of nodes, built from a ``UNetArchitecture`` by ``UNetArchitecture/network()``:
/// the one walk over a description. Every consumer interprets these nodes and nothing else:
/// tensor specs and validation, the forward pass, the ONNX graph, drawings, `inspect` and `diff`.
///
/// Each node is one operation (a convolution, a norm, a merge, …) with its inputs (earlier nodes),
/// its output channels, the tensors it owns (keys, shapes, layouts), and its place in the U: the
/// stage it belongs to, its role there and its resolution level. Composite layers of the
/// description (residual units, attention gates, squeeze-and-excitation) appear as the primitive
/// nodes they compute with.
public struct UNetNetwork: Sendable {
    /// What a node computes.
    public enum Operation: Hashable, Sendable {
        /// The network's input (node 0).
        case input
        case conv(Layer.Conv)
        case convTranspose(Layer.ConvTranspose)
        case norm(Layer.Norm)
        case activation(Layer.Activation)
        /// Identity at inference.
        case dropout(Layer.Dropout)
        case maxPool(Layer.Pool)
        case avgPool(Layer.Pool)
        case interpolate(Layer.Interpolate)
        /// The element-wise sum of the inputs (all of one shape).
        case add
        /// The first input times the second, broadcast over channels (one channel) or over space
        /// (one position): a gate.
        case multiply
        /// Concatenation along channels, inputs in order (all of one spatial size).
        case concat
        /// Centre-crops the first input to the spatial size of the second (the reference).
        case crop
        /// Pads the first input to the spatial size of the second.
        case pad(PadMode)
        /// One channel: the mean or max over the input's channels at each position.
        case channelStatistic(Layer.SpatialAttention.Statistic)
        /// The mean over space, per channel (spatial size 1).
        case globalAveragePool
    }

    public enum PadMode: Hashable, Sendable {
        /// Zeros, `floor(diff/2)` before and the rest after.
        case zeroCentred
        /// The last value repeated at the end of each axis.
        case replicateEnd
    }

    /// Where a node sits in the U.
    public struct Place: Hashable, Sendable {
        public enum Section: String, Hashable, Sendable { case input, encoder, decoder, head }
        /// What the node does for its stage.
        public enum Role: String, Hashable, Sendable {
            /// A layer of the stage's main path.
            case layer
            /// Up-sampling of the map from below (a decoder stage's `up`).
            case upsample
            /// Matching sizes and concatenating the skip.
            case merge
            /// The attention gate on the skip.
            case attention
            /// A residual unit's shortcut and sum.
            case shortcut
        }
        public let section: Section
        /// The index of the stage (or head) within its section.
        public let stage: Int
        public let role: Role
    }

    public struct Node: Hashable, Sendable {
        public let operation: Operation
        /// Indices of the nodes whose outputs this one takes, in order.
        public let inputs: [Int]
        /// Output channels.
        public let channels: Int
        /// The key prefix of the node's tensors (`encoder.1.conv0`), if it has any.
        public let key: String?
        /// The tensors the node owns, in canonical order.
        public let tensors: [TensorSpec]
        public let place: Place
        /// Resolution level: down-sampling steps above minus up-sampling steps (0 = the input's).
        public let level: Int
        /// Where the node comes from in the description, e.g. `encoder[1].layers[2]`.
        public let path: String
    }

    public let architecture: UNetArchitecture
    public let nodes: [Node]
    /// The node giving each encoder stage's output.
    public let encoderOutputs: [Int]
    /// The node giving each decoder stage's output.
    public let decoderOutputs: [Int]
    /// The node giving each head's output (`architecture.heads` order).
    public let headOutputs: [Int]

    /// The network's default output node (the first `output` head).
    public var output: Int {
        let index = architecture.heads.firstIndex { $0.role == .output } ?? 0
        return headOutputs[index]
    }

    /// Channels of the default output.
    public var outputChannels: Int { nodes[output].channels }

    /// Every tensor of the network in canonical order (docs/format.md §4).
    public var tensorSpecs: [TensorSpec] { nodes.flatMap(\.tensors) }

    /// The total number of values in all tensors.
    public var parameterCount: Int { tensorSpecs.reduce(0) { $0 + $1.elementCount } }

    /// The nodes that read each node's output.
    public var consumers: [[Int]] {
        var result = [[Int]](repeating: [], count: nodes.count)
        for (index, node) in nodes.enumerated() {
            for input in node.inputs { result[input].append(index) }
        }
        return result
    }
}

extension UNetArchitecture {
    /// Builds the network the description computes, checking channel arithmetic, ranges, names
    /// and references; throws every problem found at once, each starting with its JSON path.
    public func network() throws(ArchitectureError) -> UNetNetwork {
        var builder = NetworkBuilder(architecture: self)
        return try builder.build()
    }
}

extension UNetNetwork {
    /// A stage or head: the node it reads and the node giving its output.
    public struct Stage: Sendable {
        public let name: String
        public let section: Place.Section
        /// The index within its section.
        public let index: Int
        public let input: Int
        public let output: Int
    }

    /// Encoder stages, decoder stages and heads, in execution order.
    public var stages: [Stage] {
        let a = architecture
        let encoder = a.encoder.indices.map { i in
            Stage(
                name: a.encoder[i].name, section: .encoder, index: i, input: i == 0 ? 0 : encoderOutputs[i - 1],
                output: encoderOutputs[i])
        }
        let decoder = a.decoder.indices.map { i in
            Stage(
                name: a.decoder[i].name, section: .decoder, index: i,
                input: i == 0 ? encoderOutputs[encoderOutputs.count - 1] : decoderOutputs[i - 1],
                output: decoderOutputs[i])
        }
        let heads = a.heads.indices.map { i in
            Stage(
                name: a.heads[i].name, section: .head, index: i, input: decoderOutputs[a.heads[i].from],
                output: headOutputs[i])
        }
        return encoder + decoder + heads
    }

    /// The name of the stage or head owning each tensor, by key.
    public var stageNamesByTensor: [String: String] {
        let a = architecture
        var result: [String: String] = [:]
        for node in nodes {
            let name: String
            switch node.place.section {
            case .input: continue
            case .encoder: name = a.encoder[node.place.stage].name
            case .decoder: name = a.decoder[node.place.stage].name
            case .head: name = a.heads[node.place.stage].name
            }
            for spec in node.tensors { result[spec.key] = name }
        }
        return result
    }
}
