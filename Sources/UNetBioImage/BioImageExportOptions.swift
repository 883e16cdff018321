import Foundation
import UNetCheckpoint
import UNetONNX

/// What a BioImage Model Zoo package says about the model beyond the checkpoint: its name,
/// description, authors, licence, citations and tags. Fields left nil (or empty) come from the
/// checkpoint's `metadata.bioimageio` (a package read earlier), else from defaults (docs/bioimageio.md).
public struct BioImageExportOptions: Sendable {
    /// Letters, digits, `_+- ()`; 5 to 128 characters (the spec's rule).
    public var name: String?
    public var description: String?
    public var authors: [Person] = []
    /// An SPDX licence identifier (`MIT`, `CC-BY-4.0`, …).
    public var license: String?
    public var citations: [Citation] = []
    public var tags: [String] = []
    /// The ONNX weights' operator set and BatchNorm form (docs/onnx.md).
    public var onnx = ONNXExportOptions(otherHeads: false)
    /// Whether the unet-ckpt checkpoint goes into the package too (`unet-ckpt.h5`, an
    /// attachment), which makes the package readable by unet-ckpt again.
    public var includeCheckpoint = true
    /// The description's `timestamp`.
    public var timestamp = Date()

    public init() {}

    /// An author: a name and optional fields (`github_user`, `affiliation`, `email`, `orcid`).
    public struct Person: Sendable, Equatable {
        public var name: String
        public var fields: [(String, String)]

        public init(name: String, fields: [(String, String)] = []) {
            self.name = name
            self.fields = fields
        }

        public static func == (a: Person, b: Person) -> Bool {
            a.name == b.name && a.fields.map { "\($0.0)=\($0.1)" } == b.fields.map { "\($0.0)=\($0.1)" }
        }

        static let fieldNames = ["github_user", "affiliation", "email", "orcid"]

        /// `NAME` or `NAME; github_user=…; affiliation=…; email=…; orcid=…`.
        public init(parsing text: String) throws(BioImageExportError) {
            let parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard let first = parts.first, !first.isEmpty, !first.contains("/") else {
                throw BioImageExportError("an author needs a name (without /): \"\(text)\"")
            }
            name = first
            fields = []
            for part in parts.dropFirst() {
                let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                guard pair.count == 2, Self.fieldNames.contains(pair[0]), !pair[1].isEmpty else {
                    throw BioImageExportError(
                        "author field \"\(part)\": use \(Self.fieldNames.map { "\($0)=…" }.joined(separator: ", "))")
                }
                fields.append((pair[0], pair[1]))
            }
        }
    }

    /// A citation: its text and a DOI or a URL (the spec asks for one of them).
    public struct Citation: Sendable, Equatable {
        public var text: String
        public var doi: String?
        public var url: String?

        public init(text: String, doi: String? = nil, url: String? = nil) {
            self.text = text
            self.doi = doi
            self.url = url
        }

        /// The U-Net paper, cited when nothing else is.
        public static let unet = Citation(
            text: "Ronneberger, Fischer and Brox: U-Net: Convolutional Networks for Biomedical Image Segmentation "
                + "(MICCAI 2015)", doi: "10.1007/978-3-319-24574-4_28")

        /// `TEXT; doi=10.…` or `TEXT; url=https://…`.
        public init(parsing text: String) throws(BioImageExportError) {
            let parts = text.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw BioImageExportError(
                    "a citation is \"TEXT; doi=10.…\" or \"TEXT; url=https://…\", not \"\(text)\"")
            }
            self.text = parts[0]
            let pair = parts[1].split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch (pair.first, pair.count) {
            case ("doi", 2) where pair[1].hasPrefix("10."): doi = pair[1]
            case ("url", 2) where pair[1].hasPrefix("https://") || pair[1].hasPrefix("http://"): url = pair[1]
            default:
                throw BioImageExportError(
                    "a citation's reference is doi=10.… or url=https://…, not \"\(parts[1])\"")
            }
        }
    }
}

/// Why a package cannot be written (the checkpoint or an option), in words.
public struct BioImageExportError: UNetCkptError {
    public let message: String
    /// The package being written, when known.
    public let file: String?
    public var code: ErrorCode { .unsupported }
    public init(_ message: String, file: String? = nil) {
        self.message = message
        self.file = file
    }
}
