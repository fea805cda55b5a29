#include "service/cli.h"

int main(int argc, char** argv) { return easgate::service::runCli(argc, argv); }
