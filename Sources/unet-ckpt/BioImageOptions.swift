import ArgumentParser
import UNetBioImage

/// The words of a BioImage Model Zoo package (`convert … model.bioimageio.zip`): docs/bioimageio.md.
struct BioImageOptions: ParsableArguments {
    @Option(help: "bioimageio output: the model's name (5-128 letters, digits, spaces, _+-()).")
    var name: String?

    @Option(help: "bioimageio output: a one-paragraph description.")
    var description: String?

    @Option(
        help: ArgumentHelp(
            "bioimageio output: an author, repeatable: NAME[; github_user=…; affiliation=…; email=…; orcid=…].",
            valueName: "author"))
    var author: [String] = []

    @Option(help: "bioimageio output: the SPDX licence identifier (MIT, CC-BY-4.0, …).")
    var license: String?

    @Option(
        help: ArgumentHelp(
            "bioimageio output: a citation, repeatable: \"TEXT; doi=10.…\" or \"TEXT; url=https://…\" "
                + "(default: the U-Net paper).", valueName: "citation"))
    var cite: [String] = []

    @Option(help: ArgumentHelp("bioimageio output: a tag, repeatable.", valueName: "tag"))
    var tag: [String] = []

    @Flag(
        inversion: .prefixedNo,
        help:
            "bioimageio output: attach the unet-ckpt checkpoint (unet-ckpt.h5), which lets unet-ckpt read the package.")
    var attachCheckpoint = true

    /// Whether any of these options was given.
    var given: Bool {
        name != nil || description != nil || !author.isEmpty || license != nil || !cite.isEmpty || !tag.isEmpty
            || !attachCheckpoint
    }

    /// The export options (the ONNX options are set by the caller).
    func exportOptions() throws -> BioImageExportOptions {
        var options = BioImageExportOptions()
        options.name = name
        options.description = description
        options.authors = try author.map { try BioImageExportOptions.Person(parsing: $0) }
        options.license = license
        options.citations = try cite.map { try BioImageExportOptions.Citation(parsing: $0) }
        options.tags = tag
        options.includeCheckpoint = attachCheckpoint
        return options
    }
}
