import Testing

@testable import UNetBioImage
