/// The layers of a Keras functional model as its stored config describes them: names, classes,
/// the few arguments a U-Net needs, and which layers feed each one. Read as data only.
public struct KerasGraph: Sendable {
    public struct Layer: Sendable {
        public let name: String
        public let className: String
        /// Names of the layers feeding this one.
        public let inputs: [String]
        public let filters: Int?
        public let kernelSize: [Int]?
        public let padding: String?
        public let activation: String?
        public let useBias: Bool?
        public let rate: Double?
        public let size: [Int]?
        public let interpolation: String?
    }
    public let layers: [Layer]
}
