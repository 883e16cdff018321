/// What a checkpoint says about its weights besides the architecture (docs/format.md §6).
/// Every field is optional; fields this version does not know are kept in ``additionalFields``
/// and written back unchanged.
public struct CheckpointMetadata: Codable, Hashable, Sendable {
    /// Class names, one per output channel (or per mask value).
    public var classes: [String]?
    /// The pixel values of the training masks per class (numbers, or lists of numbers for RGB).
    public var maskValues: JSONValue?
    /// How raw pixels become network input.
    public var input: InputNormalization?
    /// What is known of the training run.
    public var training: Training?
    /// Where the weights came from.
    public var source: Source?
    /// The program that wrote the file (set by the writer).
    public var writer: Writer?
    /// Free string pairs.
    public var user: [String: String]?
    /// Top-level fields of a newer schema, kept verbatim.
    public var additionalFields: [String: JSONValue] = [:]

    public init(
        classes: [String]? = nil, maskValues: JSONValue? = nil, input: InputNormalization? = nil,
        training: Training? = nil, source: Source? = nil, user: [String: String]? = nil
    ) {
        self.classes = classes
        self.maskValues = maskValues
        self.input = input
        self.training = training
        self.source = source
        self.user = user
    }

    /// `x' = (x · scale − mean[c]) / std[c]`, with scale 1, mean 0 and std 1 by default.
    public struct InputNormalization: Codable, Hashable, Sendable {
        public var scale: Double?
        public var mean: [Double]?
        public var std: [Double]?
        /// `grayscale`, `rgb`, …
        public var color: String?
        public init(scale: Double? = nil, mean: [Double]? = nil, std: [Double]? = nil, color: String? = nil) {
            self.scale = scale
            self.mean = mean
            self.std = std
            self.color = color
        }
    }

    public struct Training: Codable, Hashable, Sendable {
        public var optimizer: String?
        public var learningRate: Double?
        /// The paper used 0.99.
        public var momentum: Double?
        public var batchSize: Int?
        public var tileSize: Int?
        public var epochs: Int?
        public var loss: String?
        public init(
            optimizer: String? = nil, learningRate: Double? = nil, momentum: Double? = nil, batchSize: Int? = nil,
            tileSize: Int? = nil, epochs: Int? = nil, loss: String? = nil
        ) {
            self.optimizer = optimizer
            self.learningRate = learningRate
            self.momentum = momentum
            self.batchSize = batchSize
            self.tileSize = tileSize
            self.epochs = epochs
            self.loss = loss
        }
        enum CodingKeys: String, CodingKey {
            case optimizer, momentum, epochs, loss
            case learningRate = "learning_rate", batchSize = "batch_size", tileSize = "tile_size"
        }
    }

    public struct Source: Codable, Hashable, Sendable {
        /// `pytorch`, `safetensors`, `keras-h5`, `keras-weights`, `keras`, `unet-h5`.
        public var format: String?
        /// The project layout the source keys followed (`milesial`, `monai-basicunet`, …).
        public var layout: String?
        public var fileName: String?
        /// Hex SHA-256 of the whole source file.
        public var sha256: String?
        /// The library that built the network (`monai`, `dynamic-network-architectures`, …).
        public var library: String?
        /// The library's version, when the file says it.
        public var version: String?
        /// The library's class (`monai.networks.nets.UNet`).
        public var className: String?
        /// The class's constructor arguments that build this network (docs/layouts.md).
        public var arguments: JSONValue?
        /// What the reading took to be so although neither the weights nor the file showed it.
        public var assumptions: [String]?
        /// The training container the weights were taken from and which copy (`raw`, `ema`).
        public var container: String?
        public init(
            format: String? = nil, layout: String? = nil, fileName: String? = nil, sha256: String? = nil,
            library: String? = nil, className: String? = nil, arguments: JSONValue? = nil
        ) {
            self.format = format
            self.layout = layout
            self.fileName = fileName
            self.sha256 = sha256
            self.library = library
            self.className = className
            self.arguments = arguments
        }
        enum CodingKeys: String, CodingKey {
            case format, layout, sha256, library, version, arguments, assumptions, container
            case fileName = "file_name"
            case className = "class"
        }
    }

    public struct Writer: Codable, Hashable, Sendable {
        public var tool: String
        public var version: String
        /// ISO 8601, UTC.
        public var writtenAt: String?
        public init(tool: String, version: String, writtenAt: String?) {
            self.tool = tool
            self.version = version
            self.writtenAt = writtenAt
        }
        enum CodingKeys: String, CodingKey {
            case tool, version
            case writtenAt = "written_at"
        }
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case classes, input, training, source, writer, user
        case maskValues = "mask_values"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        classes = try c.decodeIfPresent([String].self, forKey: .classes)
        maskValues = try c.decodeIfPresent(JSONValue.self, forKey: .maskValues)
        input = try c.decodeIfPresent(InputNormalization.self, forKey: .input)
        training = try c.decodeIfPresent(Training.self, forKey: .training)
        source = try c.decodeIfPresent(Source.self, forKey: .source)
        writer = try c.decodeIfPresent(Writer.self, forKey: .writer)
        user = try c.decodeIfPresent([String: String].self, forKey: .user)
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        let all = try decoder.container(keyedBy: AnyCodingKey.self)
        for key in all.allKeys where !known.contains(key.stringValue) {
            additionalFields[key.stringValue] = try all.decode(JSONValue.self, forKey: key)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(classes, forKey: .classes)
        try c.encodeIfPresent(maskValues, forKey: .maskValues)
        try c.encodeIfPresent(input, forKey: .input)
        try c.encodeIfPresent(training, forKey: .training)
        try c.encodeIfPresent(source, forKey: .source)
        try c.encodeIfPresent(writer, forKey: .writer)
        try c.encodeIfPresent(user, forKey: .user)
        var all = encoder.container(keyedBy: AnyCodingKey.self)
        for (key, value) in additionalFields { try all.encode(value, forKey: AnyCodingKey(key)) }
    }
}
